// GET /me/archive → one entry per plan the trainee was rostered on, in the shape the hours,
// archive and rating pages use.

export function planEntries(archive) {
  const list = Array.isArray(archive) ? archive : (archive?.plans || []);
  return list.map((p) => ({
    planId: p.plan_id,
    title: p.title || "培训",
    institutionId: p.institution_id,
    institution: p.institution || "",
    occupation: p.occupation_name ? `${p.occupation_name}（${p.occupation_code}）` : p.occupation_code || "",
    status: p.plan_status || "",
    startsOn: p.starts_on,
    endsOn: p.ends_on,
    credited: Number(p.credited_hours || 0),
    required: Number(p.plan_hours || 0),
    ratio: Number(p.completion_ratio ?? 0.8),
    completed: Boolean(p.completed),
    result: p.result || null,
    certificate: p.certificate || null,
    subsidies: p.subsidies || [],
    evaluated: Boolean(p.evaluated),
  }));
}
