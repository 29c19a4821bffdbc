// The institution's escalations: its own plans' missed check-ins and absence risks.
import page from "../common/escalations.js";

export default { ...page, render: (ctx) => page.render({ ...ctx, planLink: (id) => `#/plan/${id}` }) };
