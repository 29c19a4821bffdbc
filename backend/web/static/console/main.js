// Institution console: sites, plans and lessons, roster, voucher verification, the classroom QR
// projector page, attendance and make-ups, results, completion and subsidy, kiosks.
import { startShell } from "../common/shell.js";

startShell({
  prefix: "console",
  roles: ["institution"],
  appTitle: "培训机构工作台",
  roleHint: "供培训机构工作人员使用（演示账号 school）。",
  home: "home",
  nav: [
    { path: "home", label: "概览" },
    { path: "sites", label: "培训场地" },
    { path: "plans", label: "培训方案", also: ["plan", "attendance"] },
    { path: "verify", label: "券核验" },
    { path: "alerts", label: "缺勤预警" },
    { path: "kiosks", label: "考勤机" },
  ],
  routes: {
    home: () => import("./home.js"),
    sites: () => import("./sites.js"),
    plans: () => import("./plans.js"),
    plan: () => import("./plan.js"),
    attendance: () => import("./attendance.js"),
    projector: () => import("./projector.js"),
    verify: () => import("./verify.js"),
    kiosks: () => import("./kiosks.js"),
    alerts: () => import("./alerts.js"),
  },
});
