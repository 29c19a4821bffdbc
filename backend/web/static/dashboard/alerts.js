// The region's escalations: missed check-ins and absence risks of every plan in the supervisor's region.
import page from "../common/escalations.js";

export default page;
