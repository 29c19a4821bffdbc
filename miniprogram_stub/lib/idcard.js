// Client-side checks of a Chinese resident ID number (GB 11643) and a mobile number, so a typo is
// pointed out under the field before the request; the server still decides.

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK = "10X98765432";

/** A reason the ID number is wrong, in words, or "" when it looks valid. */
export function idNumberProblem(value) {
  const v = String(value || "").trim().toUpperCase();
  if (!v) return "请输入身份证号";
  if (v.length !== 18) return `身份证号应为 18 位，您输入了 ${v.length} 位`;
  if (!/^\d{17}[\dX]$/.test(v)) return "身份证号前 17 位应为数字，最后一位为数字或 X";
  const y = Number(v.slice(6, 10));
  const m = Number(v.slice(10, 12));
  const d = Number(v.slice(12, 14));
  const birth = new Date(Date.UTC(y, m - 1, d));
  if (birth.getUTCFullYear() !== y || birth.getUTCMonth() !== m - 1 || birth.getUTCDate() !== d || y < 1900) {
    return "身份证号中的出生日期不正确";
  }
  const sum = WEIGHTS.reduce((s, w, i) => s + w * Number(v[i]), 0);
  if (CHECK[sum % 11] !== v[17]) return "身份证号校验位不正确，请逐位核对";
  return "";
}

/** A reason the mobile number is wrong, or "" (empty is allowed: the phone is optional). */
export function phoneProblem(value) {
  const v = String(value || "").replace(/[\s-]/g, "");
  if (!v) return "";
  return /^1[3-9]\d{9}$/.test(v) ? "" : "请输入 11 位手机号";
}
