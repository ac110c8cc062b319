// The dashboard: who is signed in, live state, the panels around the map, and the hooks tests read.
(function () {
  "use strict";

  const F = window.IocFormat;
  const S = window.IocSession;
  const I = window.IocIndicators;
  const H = window.IocHeadline;
  const IDENTITY_RETRY_MS = 5000;
  // Indicator values are polled: every 30 s, and soon after the live feed reports a change
  // (at most every few seconds however busy the feed is).
  const INDICATORS_EVERY_MS = 30000;
  const INDICATORS_AFTER_CHANGE_MS = 5000;
  const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
  const STATE_RANK = { firing: 0, pending: 1, resolved: 2 };
  const STATE_LABEL = { firing: "Đang cảnh báo", pending: "Chờ xác nhận", resolved: "Đã hết" };
  const SEVERITY_LABEL = { critical: "Nghiêm trọng", warning: "Cảnh báo", info: "Thông tin" };
  const MAX_ALERTS_SHOWN = 40;

  const state = {
    identity: null, // GET /api/v1/auth/me: subject, name, role, scope, credential
    access: "ok", // "ok" | "forbidden" (the role may not read status)
    notice: null, // a problem to show before there is a connection to speak of
    provinces: {}, // code -> P (only the provinces the scope touches)
    communes: {}, // code -> C (scopes below a whole province: their communes, for names)
    alerts: {}, // id -> A (the snapshot's first page of the queue, then every alert a delta brings)
    alertCounts: null, // open alerts by state, severity and locality, over the whole scope (the live feed's)
    freshness: null,
    window: null,
    generatedAt: null,
    connection: "connecting", // "connecting" | "open" | "closed"
    hasSnapshot: false,
    headline: {}, // stream -> the live feed's headline numbers for this scope (ioc/live/headline.py)
    // The map's colouring: the live on-time rate, or any indicator of GET /api/v1/indicators/current.
    selected: I.LIVE_ON_TIME,
    indicators: {
      status: "loading", // "loading" | "ok" | "absent" (no indicators API) | "error"
      message: null,
      definitions: {}, // code -> definition (name_vi, unit, better, stream, target, ...)
      order: [], // codes, in the API's order
      values: {}, // province code -> {indicator code -> value | null}
      generatedAt: null,
    },
  };

  const dashboard = {
    state,
    deck: null,
    live: null, // the LiveConnection: its epoch and seq are the resume position
    ready: false,
    renderedProvinceCodes() {
      return provinceMap ? provinceMap.renderedProvinceCodes() : [];
    },
    // province code -> [r, g, b, a] as the drawn provinces layer colours it (tests read this).
    provinceFills() {
      return provinceMap ? provinceMap.provinceFills() : {};
    },
    selectIndicator(code) {
      selectIndicator(code);
    },
    refreshIndicators() {
      return refreshIndicators();
    },
  };
  window.iocDashboard = dashboard;

  let provinceMap = null;
  let renderQueued = false;
  let labelNames = {}; // code -> short name, from the map spec: names before the first snapshot

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- live state ---------------------------------------------------------------------------

  function applySnapshot(data) {
    state.provinces = {};
    for (const p of data.provinces) state.provinces[p.code] = p;
    state.communes = {};
    for (const c of data.communes || []) state.communes[c.code] = c;
    state.alerts = {};
    for (const a of data.alerts) state.alerts[a.id] = a;
    state.alertCounts = data.alert_counts || null;
    state.freshness = data.freshness;
    state.window = data.window;
    state.generatedAt = data.generated_at;
    state.headline = Object.assign({}, data.headline || {});
    state.hasSnapshot = true;
    scheduleRender();
  }

  function applyDelta(changes) {
    for (const [key, value] of Object.entries(changes)) {
      const [kind, id] = splitKey(key);
      if (kind === "province") setOrDelete(state.provinces, id, value);
      else if (kind === "commune") setOrDelete(state.communes, id, value);
      else if (kind === "alert") setOrDelete(state.alerts, id, value);
      else if (kind === "alert_counts") state.alertCounts = value;
      else if (kind === "freshness") state.freshness = value;
      else if (kind === "headline") state.headline = Object.assign({}, state.headline, { [id]: value });
      // Any other key is from a newer server: ignored, the rest of the delta still applies.
    }
    indicatorsChanged();
    scheduleRender();
  }

  function splitKey(key) {
    const colon = key.indexOf(":");
    return colon < 0 ? [key, null] : [key.slice(0, colon), key.slice(colon + 1)];
  }

  function setOrDelete(table, id, value) {
    if (value === null) delete table[id];
    else table[id] = value;
  }

  function setConnection(status) {
    state.connection = status;
    renderStatus(new Date());
  }

  // ---- derived figures ----------------------------------------------------------------------

  function nationalTotals(provinces) {
    const totals = { received: 0, resolved: 0, open: 0, overdue: 0, due_soon: 0, late_without_apology: 0 };
    let onTime = 0;
    let rated = 0;
    for (const p of provinces) {
      for (const key of Object.keys(totals)) totals[key] += p[key] || 0;
      if (p.on_time_rate !== null && p.resolved > 0) {
        onTime += p.on_time_rate * p.resolved;
        rated += p.resolved;
      }
    }
    totals.on_time_rate = rated > 0 ? onTime / rated : null;
    return totals;
  }

  function lastUpdate(freshness) {
    const feed = freshness && freshness.dossier;
    if (!feed) return null;
    const at = feed.last_ingest_at || feed.last_event_at;
    return at ? { at: new Date(at), expectedSeconds: feed.expected_every_seconds } : null;
  }

  // "live" only when the socket is up and the feed delivered within twice its expected cadence.
  function liveStatus(now) {
    if (state.access === "forbidden") return { key: "forbidden", label: "Không có quyền" };
    if (state.connection !== "open" || !state.hasSnapshot) {
      return state.hasSnapshot || state.connection === "closed"
        ? { key: "disconnected", label: "Mất kết nối" }
        : { key: "connecting", label: "Đang kết nối…" };
    }
    const update = lastUpdate(state.freshness);
    if (!update) return { key: "stale", label: "Dữ liệu cũ" };
    const ageSeconds = (now.getTime() - update.at.getTime()) / 1000;
    if (ageSeconds > 2 * update.expectedSeconds) return { key: "stale", label: "Dữ liệu cũ" };
    return { key: "live", label: "Trực tiếp" };
  }

  // ---- rendering ----------------------------------------------------------------------------

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      render();
    });
  }

  function render() {
    const provinces = Object.values(state.provinces);
    const totals = nationalTotals(provinces);
    renderTotals(totals);
    H.render(state.headline, state.hasSnapshot ? totals : null, state.window ? windowLabel(state.window) : "");
    renderLegend();
    renderAlerts(Object.values(state.alerts), new Date());
    renderProvinceTable(provinces);
    renderIdentity();
    renderStatus(new Date());
    if (state.window) $("window-label").textContent = windowLabel(state.window);
    if (provinceMap) provinceMap.refresh();
  }

  function windowLabel(window) {
    const days = /^(\d+)d$/.exec(window);
    return days ? days[1] + " ngày qua" : window;
  }

  function renderTotals(t) {
    $("total-received").textContent = F.integer(t.received);
    $("total-resolved").textContent = F.integer(t.resolved);
    const onTime = $("total-on-time");
    onTime.textContent = F.percent(t.on_time_rate);
    onTime.style.color = F.cssColour(F.band(t.on_time_rate).colour);
    $("total-open").textContent = F.integer(t.open);
    $("total-due-soon").textContent = "trong đó " + F.integer(t.due_soon) + " sắp đến hạn";
    $("total-overdue").textContent = F.integer(t.overdue);
    $("total-late-no-apology").textContent = F.integer(t.late_without_apology);
  }

  function alertOrder(a, b) {
    return (STATE_RANK[a.state] - STATE_RANK[b.state]) ||
      (SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]) ||
      (alertTime(b) - alertTime(a));
  }

  function alertTime(a) {
    return new Date(a.resolved_at || a.fired_at || a.active_since).getTime();
  }

  function renderAlerts(alerts, now) {
    const feed = $("alert-feed");
    // The snapshot carries the first page of alerts only: the count is the feed's, over them all.
    const firing = state.alertCounts ? state.alertCounts.firing : alerts.filter((a) => a.state === "firing").length;
    $("alert-count").textContent = firing > 0 ? firing + " đang cảnh báo" : "không có cảnh báo đang kích hoạt";
    const items = alerts.slice().sort(alertOrder).slice(0, MAX_ALERTS_SHOWN).map((a) => {
      const li = el("li", "alert severity-" + a.severity + " state-" + a.state);
      li.title = a.summary_en;
      li.appendChild(el("div", "alert-summary", a.summary_vi));
      const meta = el("div", "alert-meta");
      meta.appendChild(el("span", "alert-severity", SEVERITY_LABEL[a.severity] || a.severity));
      meta.appendChild(el("span", "alert-state", STATE_LABEL[a.state] || a.state));
      const province = a.province_code && state.provinces[a.province_code];
      if (province) meta.appendChild(el("span", "alert-place", province.short_name));
      meta.appendChild(el("span", "alert-age", F.timeSince(new Date(alertTime(a)), now)));
      li.appendChild(meta);
      // People act on alerts from the console (alert_actions.js): acknowledge, assign, snooze, close, history.
      if (window.IocAlertActions && window.IocAlertActions.canAct(state.identity)) {
        window.IocAlertActions.decorate(li, a, (body) => {
          if (body && body.alert) state.alerts[a.id] = body.alert;
          scheduleRender();
        });
      }
      return li;
    });
    if (items.length === 0) items.push(el("li", "alert-empty", "Không có cảnh báo."));
    feed.replaceChildren(...items);
  }

  function renderProvinceTable(provinces) {
    const rows = provinces.slice().sort((a, b) =>
      (b.overdue - a.overdue) ||
      ((a.on_time_rate ?? 2) - (b.on_time_rate ?? 2)) ||
      a.short_name.localeCompare(b.short_name, "vi"));
    const body = document.querySelector("#province-table tbody");
    body.replaceChildren(...rows.map((p) => {
      const tr = el("tr");
      const name = el("td", "name");
      const swatch = el("span", "swatch");
      swatch.style.background = F.cssColour(F.band(p.on_time_rate).colour);
      name.appendChild(swatch);
      name.appendChild(document.createTextNode(p.short_name));
      name.title = p.name;
      tr.appendChild(name);
      tr.appendChild(el("td", p.overdue > 0 ? "num overdue" : "num", F.integer(p.overdue)));
      tr.appendChild(el("td", "num", F.percent(p.on_time_rate)));
      tr.appendChild(el("td", "num", F.integer(p.open)));
      tr.appendChild(el("td", "num", F.integer(p.received)));
      return tr;
    }));
  }

  function renderStatus(now) {
    const status = liveStatus(now);
    document.body.className = "status-" + status.key;
    $("status-badge").textContent = status.label;

    const update = lastUpdate(state.freshness);
    $("freshness").textContent = update
      ? "Cập nhật lúc " + F.clock(update.at) + " · " + F.timeSince(update.at, now)
      : state.hasSnapshot ? "Nguồn dữ liệu chưa gửi số liệu" : "Chưa nhận dữ liệu";

    const banner = $("status-banner");
    const shownAt = update ? " (số liệu lúc " + F.clock(update.at) + ")" : "";
    if (status.key === "forbidden") {
      banner.textContent = "Tài khoản này không được xem số liệu trạng thái. Hãy liên hệ quản trị viên. " +
        "/ This account may not view status; contact an administrator.";
      banner.hidden = false;
    } else if (state.notice) {
      banner.textContent = state.notice;
      banner.hidden = false;
    } else if (status.key === "disconnected") {
      banner.textContent = "Mất kết nối tới máy chủ — số liệu đang hiển thị không còn trực tiếp" + shownAt +
        ". Đang kết nối lại…";
      banner.hidden = false;
    } else if (status.key === "stale") {
      banner.textContent = "Dữ liệu cũ: nguồn hồ sơ không gửi số liệu mới quá thời gian dự kiến" + shownAt + ".";
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
  }

  // ---- who is signed in ----------------------------------------------------------------------

  function placeNames() {
    const provinces = Object.assign({}, labelNames);
    for (const p of Object.values(state.provinces)) provinces[p.code] = p.name;
    const communes = {};
    for (const c of Object.values(state.communes)) communes[c.code] = c.name;
    return { provinces, communes };
  }

  function renderIdentity() {
    const me = state.identity;
    if (!me) return;
    const words = S.scopeWords(me.scope, placeNames());
    $("who-name").textContent = S.isDisplay(me) ? "Màn hình: " + me.name : me.name;
    $("who-role").textContent = S.roleLabel(me.role);
    $("who-scope").textContent = words;
    $("who").title = me.subject;
    // A wall screen has nobody at it to press the button.
    $("sign-out").hidden = S.isDisplay(me);
    $("who").hidden = false;
    $("totals-title").textContent = me.scope && me.scope.national ? "Toàn quốc" : words;
  }

  // Whether a province belongs to what this user may see (the map dims the rest).
  function inScope(code) {
    const scope = state.identity && state.identity.scope;
    if (!scope || scope.national) return true;
    return code in state.provinces || (scope.provinces || []).includes(code);
  }

  // The signed-in principal, or null when this page is already on its way to the sign-in page.
  // A server that cannot answer is retried: a wall screen must come back on its own.
  async function identify() {
    for (;;) {
      const answer = await S.whoAmI();
      if (answer.status === "ok") {
        state.notice = null;
        return answer.me;
      }
      if (answer.status === "signed-out") {
        S.goToSignIn(state.identity);
        return null;
      }
      state.notice = "Không kiểm tra được đăng nhập (" + answer.message + "). Đang thử lại… " +
        "/ Could not check the sign-in; retrying.";
      renderStatus(new Date());
      await new Promise((resolve) => setTimeout(resolve, IDENTITY_RETRY_MS));
    }
  }

  // After the socket could not even open: signed out (go and sign in) or just unreachable (retry).
  async function checkAccess() {
    const answer = await S.whoAmI();
    if (answer.status === "signed-out") {
      S.goToSignIn(state.identity);
      return false;
    }
    if (answer.status === "ok") {
      state.identity = answer.me;
      scheduleRender();
    }
    return true;
  }

  function forbidden() {
    state.access = "forbidden";
    scheduleRender();
  }

  // ---- the indicator the map is coloured by --------------------------------------------------

  function selectedDefinition() {
    return state.selected === I.LIVE_ON_TIME ? null : state.indicators.definitions[state.selected] || null;
  }

  function scopeIsNational() {
    return !state.identity || !state.identity.scope || state.identity.scope.national;
  }

  // The colour scale of the selected API indicator over the provinces the answer holds.
  let scaleCache = { key: null, scale: null };
  function currentScale() {
    const definition = selectedDefinition();
    if (!definition) return null;
    const key = state.selected + "@" + state.indicators.generatedAt;
    if (scaleCache.key !== key) {
      const values = Object.values(state.indicators.values).map((v) => v[state.selected]);
      scaleCache = { key, scale: I.scaleFor(definition, values) };
    }
    return scaleCache.scale;
  }

  function indicatorValue(code) {
    const row = state.indicators.values[code];
    return row ? row[state.selected] : undefined;
  }

  function fillFor(code) {
    if (state.selected === I.LIVE_ON_TIME) {
      const province = state.provinces[code];
      if (!province && !inScope(code)) return F.OUT_OF_SCOPE.colour;
      return F.band(province ? province.on_time_rate : null).colour;
    }
    const value = indicatorValue(code);
    if (value === undefined && !inScope(code)) return F.OUT_OF_SCOPE.colour;
    const colour = currentScale().colourOf(value);
    return colour || F.NO_DATA.colour;
  }

  function tooltipRows(code) {
    const definition = selectedDefinition();
    if (!definition) return [];
    return [[definition.name_vi, I.formatValue(definition.unit, indicatorValue(code))]];
  }

  function legendItem(colour, label) {
    const li = el("li");
    const swatch = el("span", "swatch");
    swatch.style.background = F.cssColour(colour);
    li.appendChild(swatch);
    li.appendChild(document.createTextNode(label));
    return li;
  }

  function renderLegend() {
    const extra = scopeIsNational() ? [F.NO_DATA] : [F.NO_DATA, F.OUT_OF_SCOPE];
    const definition = selectedDefinition();
    let title;
    let classes;
    let direction;
    let target = "";
    if (definition) {
      title = definition.name_vi;
      classes = currentScale().classes.map((c) => ({ colour: c.colour, label: c.label }));
      direction = I.directionText(definition.better);
      if (definition.target !== null && definition.target !== undefined) {
        target = "Mục tiêu: " + I.formatValue(definition.unit, definition.target);
      }
    } else {
      title = "Tỉ lệ giải quyết đúng hạn";
      classes = F.BANDS;
      direction = I.directionText("higher");
    }
    $("legend-title").textContent = title;
    $("legend-direction").textContent = direction;
    $("legend-target").textContent = target;
    $("legend-target").hidden = !target;
    $("legend-items").replaceChildren(...classes.concat(extra).map((b) => legendItem(b.colour, b.label)));
    const status = $("legend-status");
    const note = indicatorStatusNote();
    status.textContent = note || "";
    status.hidden = !note;
    const map = $("map");
    map.dataset.indicator = state.selected;
    map.dataset.indicatorStatus = state.indicators.status;
    $("legend").dataset.indicator = state.selected;
  }

  function indicatorStatusNote() {
    const ind = state.indicators;
    if (ind.status === "absent") return "Chưa có dữ liệu chỉ số: máy chủ chưa cung cấp chỉ số.";
    if (ind.status === "error") return "Không tải được chỉ số (" + ind.message + "). Đang thử lại…";
    if (ind.status === "loading") return "Đang tải các chỉ số…";
    const definition = selectedDefinition();
    if (definition && currentScale().classes.length === 0) return "Chỉ số này chưa có dữ liệu.";
    return null;
  }

  // The options: the live on-time rate first, then every indicator of the API by stream.
  function renderSelector() {
    const select = $("indicator-select");
    const options = [];
    const live = el("option", null, "Tỉ lệ giải quyết đúng hạn (trực tiếp)");
    live.value = I.LIVE_ON_TIME;
    options.push(live);
    const byStream = {};
    for (const code of state.indicators.order) {
      const d = state.indicators.definitions[code];
      (byStream[d.stream] = byStream[d.stream] || []).push(d);
    }
    for (const [stream, definitions] of Object.entries(byStream)) {
      const group = el("optgroup");
      group.label = I.STREAM_LABEL[stream] || stream;
      for (const d of definitions) {
        const option = el("option", null, d.name_vi);
        option.value = d.code;
        option.title = d.name_en;
        group.appendChild(option);
      }
      options.push(group);
    }
    select.replaceChildren(...options);
    // A selection the server no longer offers falls back to the live on-time rate.
    if (state.selected !== I.LIVE_ON_TIME && !state.indicators.definitions[state.selected]) {
      state.selected = I.LIVE_ON_TIME;
    }
    select.value = state.selected;
  }

  function selectIndicator(code) {
    const before = state.selected;
    state.selected = code === I.LIVE_ON_TIME || state.indicators.definitions[code] ? code : I.LIVE_ON_TIME;
    // Values may be up to 30 s old when nobody was looking at them: read them again now.
    if (state.selected !== before && state.selected !== I.LIVE_ON_TIME) refreshIndicators();
    $("indicator-select").value = state.selected;
    renderLegend();
    if (provinceMap) provinceMap.refresh();
  }

  let indicatorFetch = null;
  let lastIndicatorFetch = 0;
  let changeTimer = null;

  // One request at a time; the answer replaces the values, the definitions and the options.
  function refreshIndicators() {
    if (indicatorFetch) return indicatorFetch;
    lastIndicatorFetch = Date.now();
    indicatorFetch = I.fetchCurrent().then((answer) => {
      const ind = state.indicators;
      if (answer.status === "ok") {
        const definitions = {};
        for (const d of answer.data.indicators) definitions[d.code] = d;
        const changedOptions = Object.keys(definitions).join() !== ind.order.join() || ind.status !== "ok";
        ind.definitions = definitions;
        ind.order = answer.data.indicators.map((d) => d.code);
        ind.values = I.valuesByLocality(answer.data);
        ind.generatedAt = answer.data.generated_at || String(Date.now());
        ind.status = "ok";
        ind.message = null;
        if (changedOptions) renderSelector();
      } else {
        ind.status = answer.status;
        ind.message = answer.message || null;
        if (answer.status === "absent") {
          ind.definitions = {};
          ind.order = [];
          ind.values = {};
          renderSelector();
        }
      }
      renderLegend();
      if (provinceMap) provinceMap.refresh();
    }).finally(() => {
      indicatorFetch = null;
    });
    return indicatorFetch;
  }

  // The live feed moved: re-read the values soon, at most every INDICATORS_AFTER_CHANGE_MS, when the
  // map shows an indicator of the API (the live on-time rate is already in the feed itself).
  function indicatorsChanged() {
    if (changeTimer || state.selected === I.LIVE_ON_TIME) return;
    const wait = Math.max(0, lastIndicatorFetch + INDICATORS_AFTER_CHANGE_MS - Date.now());
    changeTimer = setTimeout(() => {
      changeTimer = null;
      refreshIndicators();
    }, wait);
  }

  function tick() {
    const now = new Date();
    $("clock").textContent = F.clock(now);
    $("today").textContent = F.longDate(now);
    renderStatus(now);
  }

  // ---- start --------------------------------------------------------------------------------

  function maybeReady() {
    if (!dashboard.ready && state.hasSnapshot && provinceMap && provinceMap.shapesLoaded) {
      dashboard.ready = true;
      document.body.dataset.ready = "true";
    }
  }

  async function start() {
    tick();
    setInterval(tick, 1000);
    $("sign-out").addEventListener("click", () => {
      $("sign-out").disabled = true;
      S.signOut();
    });

    const me = await identify();
    if (!me) return;
    state.identity = me;
    renderSelector();
    renderLegend();
    renderIdentity();
    H.render(null, null, "");
    $("indicator-select").addEventListener("change", (event) => selectIndicator(event.target.value));
    refreshIndicators();
    setInterval(refreshIndicators, INDICATORS_EVERY_MS);

    let snapshots = 0;
    const live = new IocLive.LiveConnection({
      onSnapshot: (data) => {
        applySnapshot(data);
        // A later snapshot may follow a change of scope (the server closes with 1012): re-read it.
        if (++snapshots > 1) checkAccess();
      },
      onDelta: (changes) => applyDelta(changes),
      onStatus: (status) => setConnection(status),
      onUnauthenticated: () => S.goToSignIn(state.identity),
      onForbidden: () => forbidden(),
      checkAccess: () => checkAccess(),
    });
    dashboard.live = live;

    let spec;
    try {
      const response = await fetch("/api/v1/map/spec");
      if (!response.ok) throw new Error("HTTP " + response.status);
      spec = await response.json();
    } catch (err) {
      const box = $("map-error");
      box.textContent = "Không tải được bản đồ (" + err.message + "). Tải lại trang để thử lại.";
      box.hidden = false;
      live.start();
      return;
    }
    for (const row of IocMap.provinceLabelRows(spec)) labelNames[row.code] = row.text;
    renderIdentity();
    provinceMap = new IocMap.ProvinceMap($("map"), spec, () => state.provinces, {
      inScope: (code) => inScope(code),
      fillFor: (code) => fillFor(code),
      tooltipRows: (code) => tooltipRows(code),
      onShapesLoaded: () => scheduleRender(),
      // ready means the first snapshot's colours have reached the canvas, not just the DOM.
      onAfterRender: () => {
        if (!renderQueued) maybeReady();
      },
    });
    dashboard.deck = provinceMap.deck;
    live.start();
  }

  start();
})();
