"""Services: load rows, call domain rules, mutate, flush. They never commit; the request's unit of work does."""
