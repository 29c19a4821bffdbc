// Chinese labels for the audit log, in one place: object types, action names, before/after field
// names and their coded values. Unknown keys fall back to the raw key, so an entry written by a newer
// server is still readable rather than blank.
import {
  BATCH_STATUS, CLAIM_STATUS, DELIVERY, fmtMoney, KIND, LESSON_MODE, MAKEUP_STATUS, PLAN_STATUS, PLAN_TYPE,
  VOUCHER_STATUS,
} from "./format.js";

/** Object types the audit log is kept for (`training_plan` is the old name of `plan`). */
export const OBJECT_TYPES = {
  plan: "培训方案", lesson: "课程", enrollment: "报名", makeup_request: "补卡申请", evaluation: "学员评价",
  subsidy_claim: "补贴申请", certificate: "证书", voucher_batch: "券批次", voucher: "培训券",
  institution: "培训机构", site: "培训场地", device: "考勤机", person: "人员", user: "账号", policy: "政策参数",
  plan_change_request: "方案变更申请",
};
const OLD_TYPES = { training_plan: "plan" };
export const canonicalType = (t) => OLD_TYPES[t] || t;
export const typeLabel = (t) => OBJECT_TYPES[canonicalType(t)] || t || "—";

export const ACTIONS = {
  "plan.create": "创建培训方案", "plan.update": "修改培训方案", "plan.submit": "提交方案审核",
  "plan_change.request": "申请变更方案", "plan_change.approve": "方案变更审核通过", "plan_change.reject": "方案变更审核驳回",
  "plan.withdraw": "撤回方案", "plan.approve": "方案审核通过", "plan.reject": "方案审核驳回",
  "plan.start": "开班", "plan.completion_submit": "申请结业", "plan.completion_decision": "结业逐人认定",
  "plan.completion_approve": "结业审核通过", "plan.completion_reject": "结业审核驳回",
  "roster.import": "导入花名册", "lessons.import": "导入课表", "online_records.import": "导入线上学时",
  "results.import": "导入考核成绩",
  "lesson.create": "新增课程", "lesson.update": "修改课程", "lesson.delete": "删除课程",
  "enrollment.create": "报名", "enrollment.voucher": "报名补录培训券", "enrollment.update": "修改报名信息",
  "enrollment.contract": "上传培训协议", "enrollment.remove": "移出报名",
  "makeup.file": "提交补卡申请", "makeup.approved": "补卡审核通过", "makeup.rejected": "补卡审核驳回",
  "evaluation.create": "学员评价",
  "subsidy_claim.create": "生成补贴申请", "subsidy_claim.approve": "补贴审核通过（进入公示）",
  "subsidy_claim.objection": "公示期异议", "subsidy_claim.objection_resolve": "处理异议",
  "subsidy_claim.reject": "补贴审核驳回", "subsidy_claim.disburse": "补贴拨付",
  "certificate.revoke": "撤销证书",
  "voucher_batch.create": "创建券批次", "voucher_batch.published": "发布券批次", "voucher_batch.closed": "结束券批次",
  "voucher_batch.code_enrollment": "设置凭券码报名",
  "voucher.claim": "领取培训券", "voucher.use": "使用培训券", "voucher.return": "退回培训券",
  "voucher.release": "释放培训券", "voucher.void": "作废培训券", "voucher.expire": "培训券过期",
  "voucher.write_off": "培训券核销",
  "institution.create": "登记培训机构", "site.create": "新增培训场地", "site.update": "修改培训场地",
  "device.register": "登记考勤机", "device.activate": "启用考勤机", "device.revoke": "停用考勤机",
  "device.demo": "演示数据",
  "person.unbind": "解除微信绑定", "person.face_enroll": "采集人脸", "person.face_withdraw": "删除人脸",
  "person.set_pin": "设置考勤密码", "person.anonymise": "个人信息匿名化",
  "user.create": "创建账号", "user.password_change": "修改密码", "policy.create": "发布政策参数版本",
  "retention.apply": "执行数据保存期限", "seed.demo": "演示数据",
};
export const actionLabel = (a) => ACTIONS[a] || a || "—";

export const FIELDS = {
  status: "状态", reason: "原因", note: "备注", title: "名称", name: "名称", occupation_code: "职业（工种）",
  occupation_codes: "职业（工种）", plan_type: "培训类型", delivery: "培训方式", starts_on: "开始日期",
  ends_on: "结束日期", online_platform: "线上平台", policy_id: "政策版本", mode: "授课方式",
  starts_at: "开始时间", ends_at: "结束时间", class_hours: "课时", site_id: "场地", require_site_qr: "须扫场地码",
  address: "地址", lat: "纬度", lon: "经度", radius_m: "签到半径（米）", plan_id: "培训方案",
  person_id: "人员", voucher_id: "培训券", enrollment_id: "报名", lesson_id: "课程", institution_id: "机构",
  subsidy_claim_id: "补贴申请", objection_id: "异议", kind: "类型", events: "考勤记录", imported: "导入条数",
  failed: "失败条数", ineligible: "不符合条件", updated: "更新条数", passed: "合格人数", source: "来源",
  enrollment_ids: "报名记录", certificates: "证书编号", number: "证书编号", valid: "有效",
  total_fen: "补贴总额", lines: "补贴明细条数", explanations: "说明", publicity_ends_at: "公示截止",
  payment_due_on: "拨付期限", written_off_vouchers: "核销培训券", text: "异议内容", resolution: "处理意见",
  claim_status: "补贴申请状态", accept: "认定结业", flags: "标记", accepted_with_flags: "带标记采信",
  excluded: "不予认定", contract_path: "协议文件", bytes: "文件大小（字节）", released_voucher: "释放的培训券",
  deleted: "已删除", region_code: "行政区划", credit_code: "统一社会信用代码", username: "用户名", role: "角色",
  sessions_revoked: "已注销登录", effective_from: "生效日期", params: "参数", created_by: "创建人",
  eligible: "符合补贴条件", account_id: "微信账号", bound_at: "绑定时间", pin_set: "已设考勤密码",
  face_enrolled: "已采集人脸", face_enrolled_by: "人脸采集方", face_consent_at: "人脸授权时间",
  phone_entered_by: "手机号填写方", phone_cleared: "已清除手机号", anonymised: "已匿名化",
  persons_anonymised: "匿名化人数", face_templates_deleted: "删除人脸模板数", shared_face_with: "人脸相同的人员",
  code_enrollment_allowed: "允许凭券码报名", quantity: "数量", remaining: "剩余", face_value_fen: "面额",
  claim_starts_at: "领取开始", claim_ends_at: "领取截止", valid_days: "有效天数", funding_source: "资金来源",
  claim_requires_face: "领取需人脸核验", payee: "补贴领取方", institution_ids: "定点机构", eligibility: "领取条件",
  directed: "定向发放", code: "券码", batch_id: "券批次", expires_at: "到期时间", teaching: "教学评分",
  facilities: "设施评分", organisation: "组织评分", reasons: "原因",
};
export const fieldLabel = (k) => FIELDS[k] || k;

const YES_NO = { true: "是", false: "否" };
const DEVICE_STATUS = { pending: "待启用", active: "已启用", revoked: "已停用" };
const OBJECTION_STATUS = { open: "待处理", upheld: "异议成立", dismissed: "异议不成立" };
const ENROLLMENT_STATUS = { active: "在训", withdrawn: "已退出" };
const ROLE = { admin: "管理员", supervisor: "监管人员", institution: "机构人员" };
const WHO = { self: "学员本人", institution: "机构", supervisor: "监管人员", admin: "管理员" };
const PAYEE = { institution: "培训机构", trainee: "学员" };
const IMPORT_SOURCE = { json: "接口导入", xlsx: "Excel 表格" };
// Status values mean different things per object (a claim's `approved` is 公示中).
const STATUS_BY_TYPE = {
  plan: PLAN_STATUS, subsidy_claim: CLAIM_STATUS, voucher: VOUCHER_STATUS, voucher_batch: BATCH_STATUS,
  makeup_request: MAKEUP_STATUS, device: DEVICE_STATUS, enrollment: ENROLLMENT_STATUS,
};
const VALUES_BY_FIELD = {
  plan_type: PLAN_TYPE, delivery: DELIVERY, mode: LESSON_MODE, kind: KIND, role: ROLE, payee: PAYEE,
  face_enrolled_by: WHO, phone_entered_by: WHO, claim_status: CLAIM_STATUS, source: IMPORT_SOURCE,
};

/** One before/after value in Chinese: coded values by field (status by object type), booleans 是/否. */
export function valueLabel(objectType, field, value, action = "") {
  if (value === null || value === undefined || value === "") return "—";
  if (typeof value === "boolean") return YES_NO[value];
  if (typeof value === "object") return JSON.stringify(value);
  if (field.endsWith("_fen") && typeof value === "number") return fmtMoney(value);
  let table = VALUES_BY_FIELD[field];
  if (field === "status") {
    table = action.startsWith("subsidy_claim.objection") ? OBJECTION_STATUS : STATUS_BY_TYPE[canonicalType(objectType)];
  }
  return table && value in table ? table[value] : String(value);
}

/** A before/after dict as "字段：值；…", with occupation codes by name when `occupation` formats them. */
export function changeText(objectType, values, action = "", occupation = (c) => c) {
  if (values == null) return "—";
  return Object.entries(values).map(([k, v]) => {
    let shown;
    if (k === "occupation_code" && v) shown = occupation(v);
    else if (k === "occupation_codes" && Array.isArray(v)) shown = v.map(occupation).join("、");
    else shown = valueLabel(objectType, k, v, action);
    return `${fieldLabel(k)}：${shown}`;
  }).join("；");
}
