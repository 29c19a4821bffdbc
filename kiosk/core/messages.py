"""What the screen says for each outcome code, in Chinese (the default) and English."""
from __future__ import annotations

MESSAGES: dict[str, tuple[str, str]] = {
    "checked_in": ("签到成功", "Checked in"),
    "checked_out": ("签退成功", "Checked out"),
    "not_on_roster": ("未在今日参训名单中", "Not on today's roster"),
    "no_manifest": ("今日名单未下载，请联系工作人员", "Today's roster is not loaded; please call staff"),
    "no_lesson_now": ("当前没有您的课程", "You have no lesson now"),
    "check_in_closed": ("签到时间已过", "Check-in has closed for this lesson"),
    "already_checked_in": ("已签到，课程开始后再签退", "Already checked in; check out after the lesson starts"),
    "already_checked_out": ("本课次已签退", "Already checked out of this lesson"),
    "qr_offline": ("网络不可用，二维码无法核验，请刷社保卡", "Offline: QR codes cannot be checked, please use your card"),
    "qr_invalid": ("二维码无效或已过期，请刷新后重试", "QR code invalid or expired; refresh it and try again"),
    "qr_no_holder": ("二维码无法识别持有人，请刷社保卡", "QR code does not name its holder; please use your card"),
    "qr_needs_face": ("二维码签到需人脸核验，请刷社保卡并输入密码",
                      "QR check-in needs a face check; please use your card and PIN"),
    "face_mismatch": ("人脸核验未通过", "Face does not match"),
    "no_face": ("未检测到人脸，请正对摄像头", "No face found; please face the camera"),
    "camera_error": ("摄像头故障，请刷卡并输入密码", "Camera problem; please use your card and PIN"),
    "checked_in_pin_pending": ("签到已记录，密码将在联网后由服务器核验", "Check-in recorded; the PIN is checked once on line"),
    "checked_out_pin_pending": ("签退已记录，密码将在联网后由服务器核验", "Check-out recorded; the PIN is checked once on line"),
    "pin_wrong": ("密码错误", "Wrong PIN"),
    "pin_locked": ("密码错误次数过多已锁定，请在手机上重新设置密码", "PIN locked after too many wrong tries; set a new one on your phone"),
    "pin_timeout": ("未输入密码", "No PIN entered"),
    "no_verification_method": ("无可用的核验方式，请联系工作人员",
                               "No way to verify you here; please call staff"),
    "confirm_check_out": ("课程尚未结束：签退后的时间不计学时。确认签退请再刷一次",
                          "The lesson has not ended: time after check-out does not count. Scan again to check out"),
    "record_failed": ("记录失败，请重试或联系工作人员", "Could not record; please retry or call staff"),
    "liveness_turn": ("请看镜头，缓慢向左或向右转头", "Look at the camera and slowly turn your head to one side"),
    "liveness_turn_left": ("请向左转头", "Please turn your head to your left"),
    "liveness_turn_right": ("请向右转头", "Please turn your head to your right"),
    "liveness_failed": ("活体检测未通过，请刷卡并输入密码", "Liveness check failed; please use your card and PIN"),
    "checked_in_liveness_review": ("签到已记录，活体检测未通过，将由人工审核",
                                   "Check-in recorded; the liveness check failed, so staff will review it"),
    "checked_out_liveness_review": ("签退已记录，活体检测未通过，将由人工审核",
                                    "Check-out recorded; the liveness check failed, so staff will review it"),
    # The server's reasons for refusing an event the kiosk had recorded (POST /device/events receipts).
    "captured_too_old": ("记录上传太晚，服务器未认可", "Uploaded too late to count"),
    "captured_in_future": ("考勤机时间不对，服务器未认可", "The kiosk's clock was ahead"),
    "not_enrolled": ("不在本课程名单中", "Not enrolled in this plan"),
    "plan_not_active": ("培训计划未在进行中", "The plan is not running"),
    "wrong_site": ("不是本站点的课程", "Not a lesson at this site"),
    "unknown_lesson": ("课程不存在", "Unknown lesson"),
    "unknown_person": ("学员不存在", "Unknown trainee"),
    "outside_time_window": ("不在签到时间内", "Outside the check-in window"),
    "not_checked_in": ("未签到不能签退", "Not checked in"),
    "face_not_enrolled": ("未登记人脸", "No face enrolled"),
    "pin_not_set": ("未设置密码", "No PIN set"),
    "evidence_missing": ("缺少核验凭据", "Evidence missing"),
    "evidence_invalid": ("核验凭据无效", "Evidence invalid"),
}


def text(code: str) -> str:
    """Both languages on one line, e.g. '签到成功 / Checked in'."""
    zh, en = MESSAGES.get(code, (code, code))
    return f"{zh} / {en}"
