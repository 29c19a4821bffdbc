// Names of the notification kinds (API.md "Notifications"), shared by the inbox and the settings page.
export const KIND_NAMES = {
  voucher_expiring: "培训券到期提醒",
  lesson_reminder: "上课提醒",
  missed_check_in: "未签到提醒",
  absence_risk: "缺勤预警",
  makeup_decided: "补卡审核结果",
  certificate_issued: "证书发放",
  subsidy_status: "补贴进度",
};
