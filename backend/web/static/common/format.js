// Display helpers shared by all clients: Asia/Shanghai times, money in fen, and Chinese labels for
// the API's codes (statuses, reasons, flags). Unknown codes fall back to the code itself so a new
// server value is still visible rather than blank.

const TZ = "Asia/Shanghai";

const dtf = (opts) => new Intl.DateTimeFormat("zh-CN", { timeZone: TZ, hour12: false, ...opts });
const F_DATETIME = dtf({ year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
const F_SHORT = dtf({ month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit" });
const F_TIME = dtf({ hour: "2-digit", minute: "2-digit" });
const F_SECONDS = dtf({ hour: "2-digit", minute: "2-digit", second: "2-digit" });
const F_DATE = dtf({ year: "numeric", month: "2-digit", day: "2-digit" });
const F_ISO_DAY = new Intl.DateTimeFormat("en-CA", { timeZone: TZ, year: "numeric", month: "2-digit", day: "2-digit" });

const parse = (v) => (v instanceof Date ? v : new Date(v));
const ok = (v) => v !== null && v !== undefined && v !== "" && !Number.isNaN(parse(v).getTime());

export const fmtDateTime = (v) => (ok(v) ? F_DATETIME.format(parse(v)) : "—");
export const fmtShort = (v) => (ok(v) ? F_SHORT.format(parse(v)) : "—");
export const fmtTime = (v) => (ok(v) ? F_TIME.format(parse(v)) : "—");
export const fmtSeconds = (v) => (ok(v) ? F_SECONDS.format(parse(v)) : "—");
export const fmtDate = (v) => {
  if (typeof v === "string" && /^\d{4}-\d{2}-\d{2}$/.test(v)) return v;
  return ok(v) ? F_DATE.format(parse(v)).replaceAll("/", "-") : "—";
};
/** Today's (or a Date's) Asia/Shanghai calendar date as YYYY-MM-DD. */
export const shanghaiDay = (d = new Date()) => F_ISO_DAY.format(d);

export function fmtMoney(fen) {
  if (fen === null || fen === undefined) return "—";
  const n = Number(fen);
  const sign = n < 0 ? "-" : "";
  const abs = Math.abs(n);
  const yuan = Math.floor(abs / 100).toLocaleString("zh-CN");
  return `${sign}¥${yuan}.${String(abs % 100).padStart(2, "0")}`;
}

export function fmtMetres(m) {
  if (m === null || m === undefined || Number.isNaN(Number(m))) return "—";
  const n = Number(m);
  if (n >= 1000) return `${(n / 1000).toFixed(n >= 10000 ? 0 : 1)} 公里`;
  return `${Math.round(n).toLocaleString("zh-CN")} 米`;
}

export const fmtHours = (h) => (h === null || h === undefined ? "—" : `${Number(h).toLocaleString("zh-CN", { maximumFractionDigits: 1 })} 课时`);

export const label = (table, code) => (code in table ? table[code] : code ?? "—");

export const VOUCHER_STATUS = {
  claimed: "已领取", used: "已使用", returned: "已退回", expired: "已过期", written_off: "已核销", voided: "已作废",
};
export const BATCH_STATUS = { draft: "草稿", published: "发放中", closed: "已结束" };
export const PLAN_STATUS = {
  draft: "草稿", submitted: "待审核", approved: "已通过", rejected: "已驳回", in_progress: "培训中",
  completion_submitted: "结业待审", completed: "已结业",
};
export const PLAN_TYPE = { pre_job: "岗前培训", in_post: "岗位技能提升", job_transfer: "转岗转业", social: "社会化培训" };
export const DELIVERY = { offline: "线下", online: "线上", blended: "线上线下结合" };
export const LESSON_MODE = { offline: "线下", online: "线上" };
export const ATTENDANCE_STATUS = { complete: "完整", incomplete: "不完整", absent: "缺勤" };
export const KIND = { check_in: "签到", check_out: "签退", both: "签到+签退" };
export const SOURCE = { mobile: "手机", kiosk: "考勤机", makeup: "补卡" };
export const MAKEUP_STATUS = { pending: "待审核", approved: "已通过", rejected: "已驳回" };
export const CLAIM_STATUS = { submitted: "待审核", approved: "公示中", disbursed: "已拨付", rejected: "已驳回" };
/** A claim's status as it stands at `now` (the server's clock): an approved claim whose 公示 is over is
 * waiting for payment, no longer 公示中. */
export function claimStatusLabel(claim, now) {
  if (claim.status === "approved" && claim.publicity_ends_at && new Date(claim.publicity_ends_at) <= now) {
    return "公示期满，待拨付";
  }
  return label(CLAIM_STATUS, claim.status);
}
export const GROUPS = {
  unemployed: "失业人员", migrant_worker: "农民工", graduate: "高校毕业生", rural_graduate: "农村未升学毕业生",
  veteran: "退役军人", disabled: "残疾人", poverty_registered: "脱贫人口", subsistence_allowance: "低保家庭成员",
  employment_difficulty: "就业困难人员", zero_employment_family: "零就业家庭成员", enterprise_employee: "企业职工",
};
export const INELIGIBLE = {
  group: "不属于本批次面向的人员类别",
  age: "年龄不符合要求",
  household_region: "户籍地不在本批次发放范围内",
  not_directed: "不在本批次定向发放名单中",
  identity_not_bound: "尚未实名认证",
  already_claimed: "已领取过本批次培训券",
  sold_out: "本批次已领完",
  claim_window_closed: "不在领取时间内",
  face_not_enrolled: "领取需要人脸核验，请先完成人脸采集",
  working_age: "不在法定劳动年龄内",
  duplicate_occupation_enrolment: "一年内已参加同一职业（工种）培训",
  duplicate_enrollment: "一年内已参加同一职业（工种）培训",
  already_enrolled: "已在参训名单中",
  invalid_id_number: "身份证号不合法",
  invalid_phone: "手机号不合法",
  identity_mismatch: "身份证号与姓名不一致",
  voucher_invalid: "培训券不可用",
};
export const VERIFY_REASON = {
  token_expired: "二维码已过期，请学员刷新后重新出示",
  token_invalid: "二维码无效",
  token_consumed: "二维码已被使用",
  expired: "培训券已过期",
  returned: "培训券已退回",
  used: "培训券已使用",
  written_off: "培训券已核销",
  voided: "培训券已作废",
  not_allowed_institution: "该券不能在本机构使用",
  occupation_not_covered: "该券不适用于本职业（工种）",
  not_found: "券码不存在，请核对后重新输入",
  voucher_token_required: "该批次须学员本人出示手机上的动态二维码报名，请扫描二维码（仅凭券码不能报名）",
};
export const REJECT_REASON = {
  out_of_fence: "超出签到范围",
  low_accuracy: "定位精度不足",
  outside_time_window: "不在签到时间内",
  site_token_invalid: "现场码无效",
  not_enrolled: "未报名",
  already_checked_in: "重复签到",
  already_checked_out: "重复签退",
  not_checked_in: "未签到即签退",
  face_mismatch: "人脸不符",
  no_face_template: "未采集人脸",
  face_not_enrolled: "未采集人脸",
  unknown_person: "人员不在名单",
  not_on_roster: "人员不在名单",
  device_revoked: "设备已停用",
  captured_too_old: "事件过期",
  captured_in_future: "设备时间超前",
  unknown_lesson: "课次不存在",
  wrong_site: "非本场地课次",
  unknown: "其他",
};
// Trust flags (shared/DESIGN.md "Trust"), worded as backend/domain/trust.py FLAG_LABELS words them so
// the badge and the server's `detail` text read alike. Every code blocks a completion but gps_only.
export const TRUST_FLAGS = {
  shared_face: "人脸模板与他人过于相似",
  face_by_staff: "人脸由机构人员代为采集",
  never_bound: "从未绑定手机，仅凭考勤机签到",
  late_upload: "课后很久才上传，且上课期间考勤机无心跳",
  kiosk_burst: "同一考勤机 2 秒内连续人脸核验",
  gps_only: "仅凭定位签到（未扫现场码）",
  face_recheck_failed: "服务器复核人脸不一致",
  liveness_failed: "考勤机活体检测未通过（可能为照片或翻拍）",
  liveness_missing: "人脸签到未做活体检测（旧版考勤机）",
};
/** Shown but never blocking: GPS without the site QR is the normal case where a region does not require it. */
export const INFORMATIONAL_FLAGS = new Set(["gps_only"]);
export const isTrustFlag = (code) => code in TRUST_FLAGS;
/** A trust flag that needs a supervisor's decision at completion (all but the informational ones). */
export const isBlockingFlag = (code) => isTrustFlag(code) && !INFORMATIONAL_FLAGS.has(code);
/** The one map of attendance flag codes to labels: the server's credit flags, `held` and the trust flags. */
export const FLAGS = {
  ...TRUST_FLAGS,
  held: "学时暂扣",
  low_accuracy_warn: "定位精度偏低",
  identical_coordinates: "坐标与他人完全相同",
  shared_device: "多人共用设备",
  impossible_speed: "移动速度异常",
  late: "迟到",
  left_early: "早退",
  no_check_in: "缺签到",
  no_check_out: "缺签退",
};
export const PROVINCES = {
  11: "北京", 12: "天津", 13: "河北", 14: "山西", 15: "内蒙古", 21: "辽宁", 22: "吉林", 23: "黑龙江",
  31: "上海", 32: "江苏", 33: "浙江", 34: "安徽", 35: "福建", 36: "江西", 37: "山东", 41: "河南",
  42: "湖北", 43: "湖南", 44: "广东", 45: "广西", 46: "海南", 50: "重庆", 51: "四川", 52: "贵州",
  53: "云南", 54: "西藏", 61: "陕西", 62: "甘肃", 63: "青海", 64: "宁夏", 65: "新疆", 71: "台湾",
  81: "香港", 82: "澳门",
};
export const GENDER = { male: "男", female: "女" };

/** The Chinese name of a province from its 2-digit code (or a longer region code). */
export const provinceName = (code) => PROVINCES[String(code).slice(0, 2)] || String(code);

// Prefectures and districts by code (GB/T 2260) where the product runs today: Fujian's cities and Fuzhou's
// districts. A code below them that is not listed is shown with its nearest known name and the code.
const PLACES = {
  3501: "福州市", 3502: "厦门市", 3503: "莆田市", 3504: "三明市", 3505: "泉州市", 3506: "漳州市", 3507: "南平市",
  3508: "龙岩市", 3509: "宁德市", 350102: "鼓楼区", 350103: "台江区", 350104: "仓山区", 350105: "马尾区",
  350111: "晋安区", 350112: "长乐区", 350121: "闽侯县", 350122: "连江县", 350123: "罗源县", 350124: "闽清县",
  350125: "永泰县", 350128: "平潭县", 350181: "福清市", 350203: "思明区", 350205: "海沧区", 350206: "湖里区",
  350211: "集美区", 350212: "同安区", 350213: "翔安区",
};

/** "福建 福州市 鼓楼区（350102）" for a region code; "全国" for none. The code stays visible for lookups. */
export function regionName(code) {
  const c = String(code ?? "").replace(/0+$/, "").length < 2 ? "" : String(code);
  if (!c) return "全国";
  const six = c.padEnd(6, "0");
  const parts = [PROVINCES[c.slice(0, 2)]];
  const city = PLACES[Number(six.slice(0, 4))];
  if (city && six.slice(2, 4) !== "00") parts.push(city);
  if (six.slice(4) !== "00" && PLACES[Number(six)]) parts.push(PLACES[Number(six)]);
  const known = parts.filter(Boolean).join(" ");
  return known ? `${known}（${c}）` : c;
}

/** Translate marshmallow's English field messages for people. */
export function fieldMessage(msg) {
  const m = String(msg);
  if (/Missing data|required/i.test(m)) return "必填";
  if (/Length must be|Shorter than|Longer than/i.test(m)) return "长度不符合要求";
  if (/Not a valid (integer|number)/i.test(m)) return "请输入数字";
  if (/Not a valid date/i.test(m)) return "日期格式不正确";
  if (/Not a valid/i.test(m)) return "格式不正确";
  if (/Must be one of/i.test(m)) return "取值不在允许范围内";
  if (/greater than or equal|less than or equal|Must be greater|Must be less/i.test(m)) return "超出允许范围";
  if (/Unknown field/i.test(m)) return "不支持的字段";
  return m;
}

/** `{field: [msgs]}` from an ApiError (validation_error fields, or a rule error naming one field). */
export function fieldErrors(err) {
  const d = err?.details || {};
  const out = {};
  if (d.fields && typeof d.fields === "object") {
    for (const [k, v] of Object.entries(d.fields)) {
      out[k] = (Array.isArray(v) ? v : [v]).map((x) => (typeof x === "string" ? fieldMessage(x) : JSON.stringify(x))).join("；");
    }
  }
  if (d.field) out[d.field] = err.message;
  return out;
}
