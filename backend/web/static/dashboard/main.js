// Supervisor dashboard: live attendance, review queues, overdue items, statistics, policies per region, and the
// bureau's administration: voucher batches, institutions and accounts, certificates, the audit trail.
import { startShell } from "../common/shell.js";

startShell({
  prefix: "dash",
  roles: ["supervisor", "admin"],
  appTitle: "人社监管工作台",
  roleHint: "供人社部门监管人员使用（演示账号 supervisor / supervisor2）。",
  home: "live",
  nav: [
    { path: "live", label: "实时考勤", also: ["lesson"] },
    { path: "review", label: "审核", also: [] },
    { path: "overdue", label: "逾期事项" },
    { path: "stats", label: "统计" },
    { path: "policies", label: "政策参数" },
    { path: "alerts", label: "缺勤预警" },
    { path: "vouchers", label: "培训券" },
    { path: "bureau", label: "机构与账号" },
    { path: "certificates", label: "证书" },
    { path: "audit", label: "审计" },
  ],
  routes: {
    live: () => import("./live.js"),
    lesson: () => import("./lesson.js"),
    review: () => import("./review.js"),
    overdue: () => import("./overdue.js"),
    stats: () => import("./stats.js"),
    policies: () => import("./policies.js"),
    alerts: () => import("./alerts.js"),
    vouchers: () => import("./vouchers.js"),
    bureau: () => import("./bureau.js"),
    certificates: () => import("./certificates.js"),
    audit: () => import("./audit.js"),
  },
});
