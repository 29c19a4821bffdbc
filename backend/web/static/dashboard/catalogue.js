// Names for codes on the bureau's pages: occupations from GET /occupations (backend/data/occupations.json),
// institutions by id; both fetched once per page load. A code the catalogue does not list shows as itself.
let occupationsPromise = null;

/** {code: name} of the occupation catalogue (an empty map when it cannot be loaded). */
export function occupations(api) {
  if (!occupationsPromise) occupationsPromise = api.get("/occupations")
      .then((list) => Object.fromEntries((Array.isArray(list) ? list : []).map((o) => [o.code, o.name])))
      .catch(() => ({}));
  return occupationsPromise;
}

/** "电工（6-31-01-03）" for a listed code, the bare code otherwise. */
export const occupationLabel = (names, code) => (names[code] ? `${names[code]}（${code}）` : code);
