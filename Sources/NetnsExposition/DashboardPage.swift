/// `GET /` for a browser: one self-contained page (no external assets: it works on a host with
/// no route out) that shows the headline counters, a timeline of recent namespaces and the
/// current leaks with their holders, and keeps itself up to date from `/events`.
///
/// It stays light with tens of thousands of namespaces: the timeline draws the newest
/// `ROWS` lives on one canvas (no element per namespace), above a strip that counts every
/// creation per time slice; the leak table shows the oldest 200 leaks and says how many more
/// there are. Everything shown comes from the agent's own endpoints, read with the page's
/// own credentials (the same TLS and authentication), and is put in the page as text, never
/// as markup. The page writes what it shows into `data-` attributes of `<body>` too, for the
/// tests that drive it in a real browser.
public enum DashboardPage {
    /// The Content-Type of the page.
    public static let contentType = "text/html; charset=utf-8"

    /// Whether an `Accept` header asks for a page rather than text.
    public static func wanted(accept: String?) -> Bool {
        accept?.split(separator: ",").contains { $0.trimmingPrefix(" ").hasPrefix("text/html") } ?? false
    }

    public static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>netns-tracer</title>
    <style>
      :root { --fg: #1d2330; --muted: #667085; --line: #e4e7ec; --alive: #2e6fdb; --dying: #98a2b3;
              --leak: #d92d20; --stuck: #f79009; --bg: #fff; }
      body { font: 14px/1.4 system-ui, sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
      header { padding: 12px 20px; border-bottom: 1px solid var(--line); display: flex; gap: 16px; align-items: baseline; }
      header h1 { font-size: 18px; margin: 0; }
      header .status { color: var(--muted); }
      main { padding: 16px 20px; }
      .cards { display: flex; gap: 12px; flex-wrap: wrap; margin-bottom: 16px; }
      .card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 110px; }
      .card .n { font-size: 22px; font-weight: 600; }
      .card .l { color: var(--muted); font-size: 12px; }
      .card.bad .n { color: var(--leak); }
      h2 { font-size: 15px; margin: 18px 0 8px; }
      .legend span { margin-right: 14px; color: var(--muted); font-size: 12px; }
      .legend i { display: inline-block; width: 18px; height: 8px; margin-right: 4px; vertical-align: middle; }
      canvas { width: 100%; display: block; border: 1px solid var(--line); border-radius: 6px; }
      #tip { position: fixed; pointer-events: none; background: #111827; color: #fff; padding: 8px 10px; border-radius: 6px;
             font-size: 12px; white-space: pre; display: none; max-width: 520px; z-index: 2; }
      table { border-collapse: collapse; width: 100%; font-size: 13px; }
      th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
      th { color: var(--muted); font-weight: 500; }
      td.kind { color: var(--leak); font-weight: 600; }
      .muted { color: var(--muted); }
      #events { font: 12px/1.5 ui-monospace, monospace; white-space: pre; max-height: 220px; overflow: auto;
                border: 1px solid var(--line); border-radius: 6px; padding: 6px 10px; }
    </style>
    </head>
    <body data-namespaces="0" data-bars="0" data-leaks="0" data-events="0" data-stream="connecting">
    <header><h1>netns-tracer</h1><span class="status" id="status">loading…</span></header>
    <main>
      <div class="cards" id="cards"></div>
      <h2>Recent namespaces <span class="muted" id="shown"></span></h2>
      <div class="legend"><span><i style="background:var(--alive)"></i>alive</span><span><i style="background:var(--dying)"></i>released → freed</span><span><i style="background:var(--stuck)"></i>stuck in teardown</span><span><i style="background:var(--leak)"></i>leaking</span><span>strip: creations over the window</span></div>
      <canvas id="timeline" height="400"></canvas>
      <h2>Leaks <span class="muted" id="leakcount"></span></h2>
      <table><thead><tr><th>inode</th><th>kind</th><th>since</th><th>creator</th><th>container</th><th>held by</th><th>waiting for</th></tr></thead>
        <tbody id="leaks"></tbody></table>
      <h2>Events</h2>
      <div id="events"></div>
    </main>
    <div id="tip"></div>
    <script>
    "use strict";
    const ROWS = 120, STRIP = 40, ROW = 6, GAP = 2, MAX_LEAK_ROWS = 200, MAX_EVENT_LINES = 200;
    const byCookie = new Map();          // cookie -> namespace, as /namespaces has it, kept up to date by /events
    let counters = {}, eventsSeen = 0, drawn = [], timeWindow = [0, 1];
    const $ = (id) => document.getElementById(id);
    const ms = (t) => t ? Date.parse(t) : null;
    const start = (n) => ms(n.createdAt) ?? ms(n.discoveredAt);

    function setData(name, value) { document.body.dataset[name] = String(value); }
    function text(tag, value, cls) { const e = document.createElement(tag); e.textContent = value ?? "-"; if (cls) e.className = cls; return e; }
    function creatorText(c) { return c ? `${c.comm} (pid ${c.pid})` : "-"; }
    function containerText(c) {
      const k = c && c.container; if (!k) return "-";
      return k.runtime + (k.id ? ":" + k.id.slice(0, 12) : "") + (k.podUid ? " pod " + k.podUid : "");
    }
    function holdersText(n) {
      return (n.holders || []).map(h => `${h.kind} ${h.comm}[${h.pid}]` + (h.path ? " " + h.path : "") + (h.fd != null ? " fd " + h.fd : "")).join(", ") || "-";
    }
    function age(t) {
      const s = Math.max(0, (Date.now() - t) / 1000);
      return s < 60 ? `${s.toFixed(0)}s` : s < 3600 ? `${(s / 60).toFixed(0)}m` : `${(s / 3600).toFixed(1)}h`;
    }

    function parseMetrics(body) {
      const wanted = ["netns_created_total", "netns_alive", "netns_dying", "netns_freed_total", "netns_untracked",
                      "netns_tracer_events_lost_total", "netns_teardown_device_waits_total"];
      const out = { leaked: 0 };
      for (const line of body.split("\n")) {
        if (line.startsWith("#")) continue;
        const [name, value] = line.split(" ");
        if (wanted.includes(name)) out[name] = Number(value);
        if (name && name.startsWith("netns_leaked{")) out.leaked += Number(value);
      }
      return out;
    }

    function renderCards() {
      const cards = [["alive", counters.netns_alive], ["dying", counters.netns_dying], ["leaking", counters.leaked, counters.leaked > 0],
                     ["created", counters.netns_created_total], ["freed", counters.netns_freed_total],
                     ["kernel-only", counters.netns_untracked], ["events lost", counters.netns_tracer_events_lost_total, counters.netns_tracer_events_lost_total > 0],
                     ["device waits", counters.netns_teardown_device_waits_total, counters.netns_teardown_device_waits_total > 0]];
      const box = $("cards"); box.replaceChildren();
      for (const [label, value, bad] of cards) {
        const card = text("div", null, "card" + (bad ? " bad" : "")); card.replaceChildren(text("div", value ?? "-", "n"), text("div", label, "l"));
        card.dataset.card = label; box.append(card);
      }
    }

    function renderLeaks() {
      const leaks = [...byCookie.values()].filter(n => n.leak).sort((a, b) => ms(a.leak.since) - ms(b.leak.since));
      const body = $("leaks"); body.replaceChildren();
      for (const n of leaks.slice(0, MAX_LEAK_ROWS)) {
        const row = document.createElement("tr"); row.dataset.inum = n.inum;
        const wait = n.teardown && n.teardown.waitingFor;
        row.append(text("td", n.inum), text("td", n.leak.kind, "kind"), text("td", n.leak.since ? age(ms(n.leak.since)) + " ago" : "-"),
                   text("td", creatorText(n.creator)), text("td", containerText(n.creator)), text("td", holdersText(n)),
                   text("td", wait ? `${wait.device} (usage ${wait.usageCount})` : "-"));
        body.append(row);
      }
      $("leakcount").textContent = leaks.length > MAX_LEAK_ROWS ? `(${leaks.length}, oldest ${MAX_LEAK_ROWS} shown)` : `(${leaks.length})`;
      setData("leaks", leaks.length);
    }

    function renderTimeline() {
      const canvas = $("timeline"), all = [...byCookie.values()].filter(n => start(n) != null);
      all.sort((a, b) => start(b) - start(a));
      drawn = all.slice(0, ROWS).reverse();
      const now = Date.now(), from = drawn.length ? Math.min(...drawn.map(start)) : now - 60000;
      timeWindow = [from, Math.max(now, from + 1000)];
      const width = canvas.clientWidth || 1000, height = STRIP + 8 + Math.max(drawn.length, 1) * (ROW + GAP);
      const ratio = window.devicePixelRatio || 1;
      canvas.width = width * ratio; canvas.height = height * ratio; canvas.style.height = height + "px";
      const g = canvas.getContext("2d"); g.scale(ratio, ratio); g.clearRect(0, 0, width, height);
      const x = (t) => (t - timeWindow[0]) / (timeWindow[1] - timeWindow[0]) * (width - 4) + 2;
      // The strip: every namespace known, creations per slice of the window (an aggregate, whatever the count).
      const slices = 120, counts = new Array(slices).fill(0);
      for (const n of all) { const s = start(n); if (s >= timeWindow[0]) counts[Math.min(slices - 1, Math.floor((s - timeWindow[0]) / (timeWindow[1] - timeWindow[0]) * slices))]++; }
      const top = Math.max(1, ...counts);
      g.fillStyle = "#c7d7f5";
      counts.forEach((c, i) => { const h = c / top * (STRIP - 4); g.fillRect(i * width / slices, STRIP - h, width / slices - 1, h); });
      drawn.forEach((n, i) => {
        const y = STRIP + 8 + i * (ROW + GAP), s = start(n), released = ms(n.releasedAt), freed = ms(n.freedAt);
        g.fillStyle = "#2e6fdb"; g.fillRect(x(s), y, Math.max(1, x(released ?? now) - x(s)), ROW);
        if (released != null) { g.fillStyle = n.leak && n.leak.kind !== "orphaned" ? "#f79009" : "#98a2b3"; g.fillRect(x(released), y, Math.max(1, x(freed ?? now) - x(released)), ROW); }
        if (n.leak) { g.fillStyle = "#d92d20"; const l = ms(n.leak.since) ?? s; g.fillRect(x(l), y + ROW - 2, Math.max(2, x(now) - x(l)), 2); }
      });
      $("shown").textContent = `(newest ${drawn.length} of ${all.length})`;
      setData("bars", drawn.length); setData("namespaces", byCookie.size);
    }

    let pending = false;
    function render() { if (pending) return; pending = true; requestAnimationFrame(() => { pending = false; renderCards(); renderTimeline(); renderLeaks(); }); }

    function showTip(event) {
      const rect = $("timeline").getBoundingClientRect(), row = Math.floor((event.clientY - rect.top - STRIP - 8) / (ROW + GAP));
      const n = drawn[row], tip = $("tip");
      if (!n) { tip.style.display = "none"; return; }
      const wait = n.teardown && n.teardown.waitingFor;
      tip.textContent = [`inode ${n.inum}` + (n.nsId ? `, nsId ${n.nsId}` : "") + `, ${n.state}`,
        `created by ${creatorText(n.creator)}` + (containerText(n.creator) !== "-" ? ` in ${containerText(n.creator)}` : ""),
        `started ${age(start(n))} ago` + (n.releasedAt ? `, released ${age(ms(n.releasedAt))} ago` : "") + (n.freedAt ? `, freed ${age(ms(n.freedAt))} ago` : ""),
        n.leak ? `leaking: ${n.leak.kind}` + (wait ? `, waiting for ${wait.device}` : "") : "not leaking",
        `held by: ${holdersText(n)}`].join("\n");
      tip.style.left = Math.min(event.clientX + 14, window.innerWidth - 540) + "px"; tip.style.top = (event.clientY + 14) + "px"; tip.style.display = "block";
    }
    $("timeline").addEventListener("mousemove", showTip);
    $("timeline").addEventListener("mouseleave", () => { $("tip").style.display = "none"; });

    function apply(e) {
      eventsSeen++; setData("events", eventsSeen);
      const line = `${e.time.slice(11, 23)} ${e.event.padEnd(16)} ${String(e.inum || "-").padEnd(11)} ${e.creator ? e.creator.comm : "-"}` +
        (e.leak ? ` ${e.leak}` : "") + (e.device ? ` waiting for ${e.device}` : "");
      const box = $("events"); box.append(text("div", line)); while (box.childElementCount > MAX_EVENT_LINES) box.firstChild.remove();
      box.scrollTop = box.scrollHeight;
      if (!e.cookie) return;
      const n = byCookie.get(e.cookie) ?? { cookie: e.cookie, inum: e.inum, nsId: e.nsId, state: "alive", creator: e.creator, holders: [], leak: null };
      switch (e.event) {
        case "created": n.createdAt = e.time; break;
        case "discovered": n.discoveredAt = e.time; break;
        case "released": n.releasedAt = e.time; n.state = "dying"; break;
        case "torn_down": n.tornDownAt = e.time; break;
        case "freed": n.freedAt = e.time; n.state = "freed"; n.leak = null; break;
        case "leak_started": n.leak = { kind: e.leak, since: e.time }; break;
        case "leak_ended": n.leak = null; break;
        case "teardown_waiting": n.teardown = { waitingFor: { device: e.device, usageCount: e.usageCount } }; break;
      }
      byCookie.set(e.cookie, n);
      render();
    }

    async function follow() {
      for (;;) {
        try {
          const response = await fetch("events", { headers: { Accept: "application/x-ndjson" } });
          if (!response.ok) throw new Error(`HTTP ${response.status}`);
          setData("stream", "open"); $("status").textContent = "live";
          const reader = response.body.getReader(), decoder = new TextDecoder();
          let rest = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            rest += decoder.decode(value, { stream: true });
            let cut;
            while ((cut = rest.indexOf("\n")) >= 0) { const line = rest.slice(0, cut); rest = rest.slice(cut + 1); if (line) apply(JSON.parse(line)); }
          }
          $("status").textContent = "the agent ended the stream; reconnecting…";
        } catch (error) {
          $("status").textContent = `not live (${error.message}); retrying…`;
        }
        setData("stream", "closed");
        await new Promise(r => setTimeout(r, 3000));
      }
    }

    async function refresh() {
      try {
        const [namespaces, metrics] = await Promise.all([fetch("namespaces").then(r => r.json()), fetch("metrics").then(r => r.text())]);
        byCookie.clear();
        for (const n of namespaces) byCookie.set(n.cookie, n);
        counters = parseMetrics(metrics);
        render();
      } catch (error) {
        $("status").textContent = `cannot read the agent: ${error.message}`;
      }
    }

    refresh().then(follow);
    setInterval(refresh, 30000);
    setInterval(async () => { try { counters = parseMetrics(await (await fetch("metrics")).text()); render(); } catch (_) {} }, 5000);
    </script>
    </body>
    </html>
    """#
}
