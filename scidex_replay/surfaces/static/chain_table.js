// The replay widget's table (anywidget ESM). The model holds `columns` and `rows` (the whole
// table, synced when a run starts and ends); during a run the kernel sends one message per
// change, applied to one row only:
//   {kind: "row", index, row}      the row `index` as the engine reported it
//   {kind: "running", index}       the step `index` was handed to the executor (-1: none)
// The running row is highlighted and shows how long it has run (counted here).
const SHORT = { "input hash": 12, "live output hash": 12, "replayed hash": 12, method: 60 };

function text(value, column) {
  if (value === null || value === undefined) return "";
  let s = String(value);
  const n = SHORT[column];
  if (n) {
    const first = s.split("\n").find((l) => l.trim()) || "";
    s = first.length > n || first !== s.trim() ? first.slice(0, n) + "…" : first;
  }
  return s;
}

function render({ model, el }) {
  let rows = [];
  let running = -1;
  let since = 0;
  let timer = null;
  const table = document.createElement("table");
  table.className = "scidex-chain-table";
  const thead = table.createTHead();
  const tbody = table.createTBody();
  el.classList.add("scidex-chain");
  el.appendChild(table);

  function cell(tr, value, column) {
    const td = tr.insertCell();
    td.textContent = text(value, column);
    const full = value === null || value === undefined ? "" : String(value);
    if (full && full !== td.textContent) td.title = full;
    td.dataset.column = column;
    return td;
  }

  function fillRow(tr, row, index) {
    tr.replaceChildren();
    tr.className = "scidex-outcome-" + String(row.outcome || "pending").replace(/[^a-z-]/g, "");
    tr.dataset.stepId = row.step_id || "";
    for (const column of model.get("columns")) {
      const td = cell(tr, row[column], column);
      if (column === "outcome" && index === running) {
        td.textContent = "running " + ((Date.now() - since) / 1000).toFixed(1) + " s";
      }
    }
    tr.classList.toggle("scidex-running", index === running);
  }

  function header() {
    thead.replaceChildren();
    const tr = thead.insertRow();
    for (const column of model.get("columns")) {
      const th = document.createElement("th");
      th.textContent = column;
      tr.appendChild(th);
    }
  }

  function all() {
    rows = (model.get("rows") || []).slice();
    running = -1;
    tick(false);
    tbody.replaceChildren();
    rows.forEach((row, i) => fillRow(tbody.insertRow(), row, i));
    el.hidden = rows.length === 0;
  }

  function one(index) {
    const tr = tbody.rows[index];
    if (tr && rows[index]) fillRow(tr, rows[index], index);
  }

  function tick(on) {
    if (timer !== null) clearInterval(timer);
    timer = on ? setInterval(() => one(running), 100) : null;
  }

  function onMessage(msg) {
    if (!msg || typeof msg !== "object") return;
    if (msg.kind === "row" && msg.index >= 0 && msg.index < rows.length) {
      rows[msg.index] = msg.row;
      if (msg.index === running) {
        running = -1;
        tick(false);
      }
      one(msg.index);
    } else if (msg.kind === "running") {
      const before = running;
      running = msg.index;
      since = Date.now();
      one(before);
      one(running);
      tick(running >= 0);
      const tr = tbody.rows[running];
      if (tr && typeof tr.scrollIntoView === "function" && el.scrollHeight > el.clientHeight) {
        tr.scrollIntoView({ block: "nearest" });
      }
    }
  }

  header();
  all();
  model.on("change:rows", all);
  model.on("change:columns", () => { header(); all(); });
  model.on("msg:custom", onMessage);
  return () => {
    tick(false);
    model.off("change:rows", all);
    model.off("msg:custom", onMessage);
  };
}

export default { render };
