"""How the report's HTML pages look and behave: their CSS and the leaderboard's sorting, inline (the pages open offline)."""

CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', sans-serif; margin: 0 auto; max-width: 1200px; padding: 1em 2em; color: #222; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2em; margin-top: 2em; }
h3 { margin-top: 1.6em; } p.meta { color: #555; margin-top: 0; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; border: 1px solid #eee; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: left; } th { background: #f3f3f3; }
.missing { color: #8a5a00; background: #fff6e0; padding: 0.5em 1em; border-left: 4px solid #e0a000; }
nav a { margin-right: 1em; } .scroll { overflow-x: auto; max-height: 32em; overflow-y: auto; }
table.sortable th { cursor: pointer; position: sticky; top: 0; } table.sortable th[data-order=asc]::after { content: " ▲"; }
table.sortable th[data-order=desc]::after { content: " ▼"; }
"""

# Click a heading of a sortable table: rows sort by that column, numerically where the cells are numbers,
# empty cells last; a second click reverses the order.
SORT_SCRIPT = """
document.addEventListener("click", (event) => {
  const th = event.target.closest("table.sortable th");
  if (!th) return;
  const table = th.closest("table"), body = table.tBodies[0], column = th.cellIndex;
  const descending = th.dataset.order !== "desc";
  table.querySelectorAll("th").forEach((h) => delete h.dataset.order);
  th.dataset.order = descending ? "desc" : "asc";
  const key = (row) => {
    const text = row.cells[column].textContent.trim();
    if (text === "") return null;
    const number = Number(text);
    return isNaN(number) ? text : number;
  };
  const rows = Array.from(body.rows).sort((a, b) => {
    const x = key(a), y = key(b);
    if (x === null || y === null) return x === null ? (y === null ? 0 : 1) : -1;
    const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return descending ? -order : order;
  });
  rows.forEach((row) => body.appendChild(row));
});
"""
