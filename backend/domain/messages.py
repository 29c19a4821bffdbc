"""Human messages for error codes: zh-CN by default, English on request."""
from __future__ import annotations

# code: (zh, en). Clients branch on the code; these texts are for people.
MESSAGES: dict[str, tuple[str, str]] = {
    "validation_error": ("请求数据不合法", "The request data is invalid"),
    "unauthorized": ("未登录或登录已失效", "Authentication required or invalid"),
    "forbidden": ("无权执行此操作", "You are not allowed to do this"),
    "not_found": ("对象不存在", "Not found"),
    "method_not_allowed": ("不支持该请求方法", "Method not allowed"),
    "payload_too_large": ("上传内容过大", "Payload too large"),
    "rate_limited": ("请求过于频繁，请稍后再试", "Too many requests, try again later"),
    "internal_error": ("服务器内部错误", "Internal server error"),
    "conflict": ("与当前状态冲突", "Conflicts with the current state"),
    "idempotency_key_reused": ("幂等键已用于不同的请求", "Idempotency key reused with a different request"),
    "request_in_progress": ("相同请求正在处理中", "The same request is still in progress"),
    "invalid_credentials": ("用户名或密码错误", "Wrong username or password"),
    "token_reused": ("刷新令牌已被使用，登录已撤销", "Refresh token reused; the session was revoked"),
    "wechat_error": ("微信登录失败", "WeChat login failed"),
    "invalid_id_number": ("身份证号不合法", "Invalid ID number"),
    "invalid_credit_code": ("统一社会信用代码不合法", "Invalid unified social credit code"),
    "invalid_phone": ("手机号不合法", "Invalid mobile number"),
    "invalid_region_code": ("行政区划代码不合法", "Invalid region code"),
    "identity_taken": ("该身份已绑定其他微信账号", "This identity is bound to another WeChat account"),
    "identity_mismatch": ("身份证号与姓名不一致", "The ID number is registered under another name"),
    "identity_not_bound": ("请先完成实名认证", "Bind your real-name identity first"),
    "username_taken": ("用户名已存在", "Username already exists"),
    "credit_code_taken": ("该信用代码的机构已存在", "An institution with this credit code exists"),
    "out_of_scope": ("超出您的管辖范围", "Outside your region scope"),
    "no_face": ("未检测到人脸", "No face found in the image"),
    "multiple_faces": ("检测到多张人脸", "More than one face in the image"),
    "consent_required": ("需要明确同意采集人脸信息", "Explicit consent is required"),
    "face_not_enrolled": ("尚未采集人脸信息", "No face template enrolled"),
    "face_mismatch": ("人脸比对不一致", "The face does not match"),
    "not_eligible": ("不符合领取条件", "Not eligible"),
    "already_claimed": ("已领取过该批次培训券", "Already holding a voucher of this batch"),
    "sold_out": ("培训券已领完", "Sold out"),
    "claim_window_closed": ("不在领取时间内", "Outside the claim window"),
    "not_returnable": ("该培训券不能退回", "This voucher cannot be returned"),
    "token_expired": ("二维码已过期，请刷新", "The QR code expired; refresh it"),
    "token_invalid": ("二维码无效", "Invalid QR code"),
    "token_consumed": ("二维码已使用", "This QR code was already used"),
    "expired": ("培训券已过期", "The voucher expired"),
    "returned": ("培训券已退回", "The voucher was returned"),
    "used": ("培训券已使用", "The voucher was already used"),
    "written_off": ("培训券已核销", "The voucher was written off"),
    "voided": ("培训券已作废", "The voucher was voided"),
    "not_allowed_institution": ("该培训券不能在本机构使用", "Not usable at this institution"),
    "occupation_not_covered": ("培训券不适用于该职业（工种）", "The voucher does not cover this occupation"),
    "invalid_state": ("当前状态不允许此操作", "Not allowed in the current state"),
    "change_window_closed": ("已超过允许修改的时间", "The change window has closed"),
    "hours_changed": ("修改时间不得改变课时", "A time change must keep the class hours"),
    "class_hours_too_long": ("课时超过课次时长（每课时不少于45分钟）", "Class hours exceed the lesson length (45 min each)"),
    "online_share_exceeded": ("线上课时超过总课时的40%", "Online hours exceed 40% of the total"),
    "roster_frozen": ("培训已开始，名单已锁定", "Training started; the roster is frozen"),
    "already_enrolled": ("已在参训名单中", "Already on the roster"),
    "out_of_fence": ("不在培训地点范围内", "Outside the site's fence"),
    "low_accuracy": ("定位精度不足", "Location accuracy is too low"),
    "outside_time_window": ("不在签到/签退时间内", "Outside the check-in/check-out window"),
    "site_token_invalid": ("现场二维码无效或已过期", "Invalid or expired site QR code"),
    "not_enrolled": ("未报名该课程", "Not enrolled in this lesson"),
    "already_checked_in": ("已签到", "Already checked in"),
    "already_checked_out": ("已签退", "Already checked out"),
    "not_checked_in": ("尚未签到", "Not checked in yet"),
    "not_offline_lesson": ("线上课程无需现场签到", "Online lessons need no on-site check-in"),
    "makeup_window_closed": ("补卡只能在课程当天申请", "Make-ups only on the lesson's day"),
    "same_approver": ("审核与拨付不能为同一人", "Disbursement needs a second person"),
    "publicity_period": ("公示期未结束", "The publicity period has not ended"),
    "already_evaluated": ("已评价过", "Already evaluated"),
    "not_completed": ("尚未完成培训", "Training not completed"),
    "application_window_closed": ("已超过补贴申请期限", "Past the subsidy application deadline"),
    "device_revoked": ("设备已停用", "Device revoked"),
    # -- vouchers area --
    # -- plans area --
    # -- attendance area --
    # -- devices area --
    # -- outcomes area --
}


def message_for(code: str, lang: str = "zh") -> str:
    """The human message for a code in 'zh' or 'en', falling back to the code itself."""
    pair = MESSAGES.get(code)
    if pair is None:
        return code
    return pair[1] if lang == "en" else pair[0]
