// Builds the report's tables and uPlot charts from the JSON qcat embedded. Every value from the
// data becomes text (textContent), never markup, so a model name cannot inject anything.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const PER_MILLION = 1e6;
  const COLORS = ["#4e79a7", "#f28e2b", "#e15759", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#ff9da7", "#7f7f7f"];
  const number = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 6 });
  const percent = new Intl.NumberFormat("en-US", { maximumFractionDigits: 1, signDisplay: "exceptZero" });
  const ratio = new Intl.NumberFormat("en-US", { maximumSignificantDigits: 3 });
  const LOG_SCALE_FROM = 20; // a chart whose rates span more than this factor gets a log scale
  const MAX_POINTED_LINES = 6; // beyond this many lines, dots at every step would hide the lines

  const when = (iso) => (iso ? iso.slice(0, 16).replace("T", " ") : "-");
  const rate = (v) => (v === null || v === undefined ? "-" : number.format(v * PER_MILLION));
  const exact = (v) => (v === null || v === undefined ? "" : `${v} micro-credits per token`);
  const pct = (v) => (v === null || v === undefined ? "from 0" : `${percent.format(v)}%`);
  const integer = new Intl.NumberFormat("en-US");
  const count = (n) => integer.format(n);
  const plural = (n, word) => `${count(n)} ${word}${n === 1 ? "" : "s"}`;

  function el(tag, props, children) {
    const node = document.createElement(tag);
    Object.assign(node, props || {});
    for (const child of children || []) {
      node.append(child);
    }
    return node;
  }

  // columns: [label, value of a row (text), optional class, optional tooltip of a row]
  function table(columns, rows) {
    const head = el("tr", {}, columns.map(([label, , cls]) => el("th", { textContent: label, className: cls || "" })));
    const body = rows.map((row) =>
      el("tr", {}, columns.map(([, value, cls, title]) => el("td", { textContent: value(row), className: cls || "", title: title ? title(row) : "" }))),
    );
    return el("table", {}, [el("thead", {}, [head]), el("tbody", {}, body)]);
  }

  function section(id) {
    return document.getElementById(id);
  }

  function caption(text) {
    return el("p", { className: "caption", textContent: text });
  }

  function summary() {
    const w = data.window;
    const catalogs = data.catalogs;
    const models = catalogs.reduce((sum, c) => sum + c.models, 0);
    section("window").textContent =
      `Changes from ${when(w.since)} to the latest pull, ${when(w.until)} (--since ${w.since_text}); ` +
      `${plural(catalogs.length, "catalog")} listing ${count(models)} models between them now; history since ${when(w.first_pull_at)}. ` +
      `Generated ${when(data.generated_at)}.`;
    section("catalogs").append(
      table(
        [
          ["license", (c) => c.license],
          ["provider", (c) => c.provider],
          ["models now", (c) => count(c.models), "num"],
          ["last pull", (c) => when(c.last_pull_at), "when"],
          ["status", (c) => c.last_status],
          ["last applied", (c) => when(c.last_applied_at), "when"],
          ["rate changes", (c) => count(c.rate_changed), "num"],
          ["added", (c) => count(c.added), "num"],
          ["removed", (c) => count(c.removed), "num"],
          ["readded", (c) => count(c.readded), "num"],
          ["renamed, limits", (c) => count(c.other), "num"],
        ],
        catalogs,
      ),
    );
    section("catalogs").querySelectorAll("tbody tr").forEach((tr, i) => {
      if (catalogs[i].last_status !== "ok") {
        tr.children[4].className = "bad";
      }
    });
  }

  function rateMove(name, row) {
    const before = row[`old_${name}`];
    const after = row[`new_${name}`];
    if (before === after) {
      return null;
    }
    return `${name} ${rate(before)} \u2192 ${rate(after)} (${pct(row[`${name}_pct_change`])})`;
  }

  function limit(name, before, after) {
    return before === after ? null : `${name} ${before === null ? "none" : count(before)} \u2192 ${after === null ? "none" : count(after)}`;
  }

  function detail(row) {
    switch (row.event_type) {
      case "rate_changed":
        return [rateMove("input", row), rateMove("output", row)].filter(Boolean).join("; ");
      case "added":
      case "readded":
        return `input ${rate(row.new_input)}, output ${rate(row.new_output)}`;
      case "removed":
        return `was input ${rate(row.old_input)}, output ${rate(row.old_output)}`;
      case "renamed":
        return `${row.old_name} \u2192 ${row.new_name}`;
      case "limits_changed":
        return [
          limit("context window", row.old_context_window, row.new_context_window),
          limit("max output", row.old_max_output_tokens, row.new_max_output_tokens),
        ].filter(Boolean).join("; ");
      default:
        return "";
    }
  }

  // the stored rates, exactly as the API sent them, for a change's tooltip
  function exactRates(row) {
    const known = (v) => v !== null && v !== undefined;
    const parts = ["input", "output"]
      .filter((n) => known(row[`old_${n}`]) || known(row[`new_${n}`]))
      .map((n) => `${n} ${known(row[`old_${n}`]) ? row[`old_${n}`] : "-"} \u2192 ${known(row[`new_${n}`]) ? row[`new_${n}`] : "-"}`);
    return parts.length ? `${parts.join("; ")} micro-credits per token` : "";
  }

  function direction(row) {
    if (row.event_type !== "rate_changed") {
      return "";
    }
    const moves = ["input", "output"].map((n) => row[`new_${n}`] - row[`old_${n}`]);
    return moves.some((m) => m > 0) ? "up" : moves.some((m) => m < 0) ? "down" : "";
  }

  function changes() {
    const { total, rows } = data.changes;
    const target = section("changes");
    const byType = {};
    for (const c of data.catalogs) {
      byType["rate changed"] = (byType["rate changed"] || 0) + c.rate_changed;
      byType.added = (byType.added || 0) + c.added;
      byType.removed = (byType.removed || 0) + c.removed;
      byType.readded = (byType.readded || 0) + c.readded;
      byType["renamed or limits changed"] = (byType["renamed or limits changed"] || 0) + c.other;
    }
    target.append(el("ul", { className: "counts" }, Object.entries(byType).map(([k, v]) => el("li", { textContent: `${k}: ${count(v)}` }))));
    if (!total) {
      target.append(caption(`No changes since ${when(data.window.since)}.`));
      return;
    }
    const shown = rows.length < total ? `the ${count(rows.length)} newest of ${count(total)} changes` : `all ${count(total)} changes`;
    target.append(caption(`Newest first, ${shown}; every change is in the table catalog_events.`));
    const t = table(
      [
        ["seen (UTC)", (r) => when(r.observed_at), "when"],
        ["license", (r) => r.license],
        ["provider", (r) => r.provider],
        ["model", (r) => r.model_id, "model"],
        ["change", (r) => r.event_type.replace("_", " ")],
        ["detail", detail, "", exactRates],
      ],
      rows,
    );
    t.querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.children[5].className = direction(rows[i]);
    });
    target.append(el("div", { className: "scroll" }, [t]));
  }

  function seriesLabels(series) {
    const licenses = new Set(series.map((s) => s.license));
    const providers = new Set(series.map((s) => s.provider));
    return series.map((s) =>
      providers.size === 1 ? s.license : licenses.size === 1 ? s.provider : `${s.license} \u00b7 ${s.provider}`,
    );
  }

  const dayTick = uPlot.fmtDate("{MM}-{DD}");
  const hourTick = uPlot.fmtDate("{MM}-{DD} {HH}:{mm}");
  const dateTicks = (ts, step) => (step >= 86400 ? dayTick : hourTick)(uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"));

  // uPlot wants one x list and one y list per line: the rate in effect at every instant any line steps
  function uPlotData(stepLists) {
    const seconds = (iso) => Math.floor(Date.parse(iso) / 1000); // steps are whole seconds too
    const xs = [...new Set([seconds(data.window.since), seconds(data.window.until), ...stepLists.flat().map(([t]) => t)])];
    xs.sort((a, b) => a - b);
    const columns = stepLists.map((steps) => {
      let next = 0;
      let value = null;
      return xs.map((x) => {
        while (next < steps.length && steps[next][0] <= x) {
          value = steps[next][1];
          next += 1;
        }
        return value;
      });
    });
    return [xs, columns];
  }

  // a wide range of rates (licenses far apart) would flatten every move on a linear scale
  function logScale(values) {
    const known = values.flat().filter((v) => v !== null);
    const low = Math.min(...known);
    return low > 0 && Math.max(...known) / low > LOG_SCALE_FROM;
  }

  function chart(model, rateName, index, width) {
    const labels = seriesLabels(model.series);
    const [xs, unordered] = uPlotData(model.series.map((s) => s[rateName]));
    // the catalogs whose rate moved come first and stand out; the others are context
    const lines = unordered
      .map((column, i) => ({ column, label: labels[i], moved: new Set(column.filter((v) => v !== null)).size > 1 }))
      .sort((a, b) => b.moved - a.moved);
    const columns = lines.map((line) => line.column);
    const log = logScale(columns);
    const tile = el("div", { className: "tile" }, [
      el("h3", { textContent: `${model.model_id} \u00b7 ${rateName} rate` }),
      el("div", {
        className: "sub",
        textContent: `${model.name || ""}${model.name ? " \u00b7 " : ""}${plural(model.changes, "rate change")} in the window, largest ${pct(model.largest_pct)}, last ${when(model.last_change_at)}`,
      }),
    ]);
    const options = {
      width: width,
      height: 240,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC"),
      cursor: { sync: { key: `model-${index}` } },
      // a little room after the latest pull, so that a change seen there is not drawn on the frame
      scales: { x: { time: true, range: (u, min, max) => [min, max + (max - min) * 0.03] }, y: log ? { distr: 3 } : {} },
      series: [
        { label: "UTC", value: "{YYYY}-{MM}-{DD} {HH}:{mm}" },
        ...lines.map((line, i) => ({
          label: line.label,
          stroke: COLORS[i % COLORS.length] + (line.moved ? "" : "80"),
          dash: i >= COLORS.length ? [6, 3] : undefined,
          width: line.moved ? 2.5 : 1.25,
          points: { show: lines.length <= MAX_POINTED_LINES },
          // a rate holds from the pull that saw it until the next point; a gap starts where the model left
          paths: uPlot.paths.stepped({ align: 1, alignGaps: 1 }),
          value: (u, v, seriesIndex, at) => (at === null ? "" : v === null || v === undefined ? "not listed" : `${rate(v)} (${v})`),
        })),
      ],
      axes: [
        { space: 90, values: (u, splits, axis, space, step) => splits.map((ts) => dateTicks(ts, step)) },
        {
          label: `micro-credits / 1M tokens${log ? ", log" : ""}`,
          size: 72,
          values: (u, splits) => splits.map((v) => (v === null ? "" : number.format(v * PER_MILLION))),
        },
      ],
    };
    const plot = new uPlot(options, [xs, ...columns], tile);
    plot.root.dataset.model = model.model_id;
    return tile;
  }

  function charts() {
    const target = section("charts");
    const models = data.charts.models;
    if (!models.length) {
      target.append(caption(`No rate changed since ${when(data.window.since)}.`));
      return 0;
    }
    const more = data.charts.total - models.length;
    target.append(
      caption(
        `The ${models.length} models whose rates moved most since ${when(data.window.since)} (largest percent change first)` +
          (more > 0 ? `, and ${count(more)} more models that changed (see the view rate_changes)` : "") +
          ". One line per license or provider listing the model; a gap is a time it was not listed. Hover for the exact rate and date.",
      ),
    );
    const grid = el("div", { className: "grid" });
    target.append(grid);
    const width = Math.max(520, Math.floor((grid.clientWidth - 16) / 2) - 26);
    let drawn = 0;
    models.forEach((model, i) => {
      for (const rateName of model.changed) {
        grid.append(chart(model, rateName, i, width));
        drawn += 1;
      }
    });
    return drawn;
  }

  function spreads() {
    const { total, rows } = data.spreads;
    const target = section("spreads");
    if (!total) {
      target.append(caption("No model costs differently under two licenses today."));
      return;
    }
    target.append(
      caption(
        `The ${count(rows.length)} widest of ${count(total)} differences between two licenses for the same model and provider, in the current catalogs ` +
          "(ratio = license A / license B; widest gap either way first). All of them: the view license_rate_spread.",
      ),
    );
    const ratioCell = (v) => (v === null ? "-" : `${ratio.format(v)}\u00d7`);
    target.append(
      table(
        [
          ["provider", (r) => r.provider],
          ["model", (r) => r.model_id, "model"],
          ["license A", (r) => r.license_a],
          ["license B", (r) => r.license_b],
          ["input A", (r) => rate(r.input_a), "num", (r) => exact(r.input_a)],
          ["input B", (r) => rate(r.input_b), "num", (r) => exact(r.input_b)],
          ["input A/B", (r) => ratioCell(r.input_ratio), "num"],
          ["output A", (r) => rate(r.output_a), "num", (r) => exact(r.output_a)],
          ["output B", (r) => rate(r.output_b), "num", (r) => exact(r.output_b)],
          ["output A/B", (r) => ratioCell(r.output_ratio), "num"],
        ],
        rows,
      ),
    );
    // the ratio that makes the spread (license A pays more there) in bold
    target.querySelectorAll("tbody tr").forEach((tr, i) => {
      tr.children[rows[i].input_ratio === rows[i].spread ? 6 : 9].classList.add("wide");
    });
  }

  summary();
  changes();
  const drawn = charts();
  spreads();
  document.documentElement.dataset.charts = String(drawn);
})();
