// The phone page: the signed-in person's open alerts, acknowledge with one tap, snooze, assign
// ("Giao"), close by hand ("Đóng", with a reason), history, a small strip of numbers, and "Bật
// thông báo" (Web Push through the service worker /sw.js).
//
// Alerts come from GET /api/v1/alerts?state=open (every 15 s and after each action) and from the
// live feed (/ws, the dashboard's protocol: snapshot + deltas) when it is reachable; both are
// already narrowed to the person's scope by the server. The API calls, the snooze lengths and the
// form checks are the console's (alert_actions.js), so both places behave the same. Tests read
// window.iocPhone.
(function () {
  "use strict";

  const S = window.IocSession;
  const A = window.IocAlertActions;
  const F = window.IocFormat;
  const REFRESH_MS = 15000;
  const DEFAULT_SNOOZE = "4h"; // the console's default too
  const SEVERITY_LABEL = { critical: "Nghiêm trọng", warning: "Cảnh báo", info: "Thông tin" };
  const STATE_LABEL = { firing: "Đang cảnh báo", pending: "Đang theo dõi", resolved: "Đã đóng" };
  const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
  const STATE_RANK = { firing: 0, pending: 1, resolved: 2 };
  const CLOSED = A.errorText({ status: 409, body: null }); // "Cảnh báo đã đóng."

  // The two actions that need a small form in the card (one open at a time on the page).
  const FORMS = {
    assign: {
      title: "Giao cảnh báo cho người khác",
      field: "username",
      label: "Giao cho (tên đăng nhập)",
      hint: "Để trống để bỏ giao.",
      submit: "Giao",
      maxLength: 64,
    },
    resolve: {
      title: "Đóng cảnh báo",
      field: "comment",
      label: "Lý do đóng cảnh báo (bắt buộc)",
      hint: "",
      submit: "Đóng cảnh báo",
      maxLength: 2000,
    },
  };

  const state = {
    me: null,
    alerts: {}, // id -> alert (open ones, plus the one whose form is open: see hold)
    provinces: {}, // from the live snapshot, for the overdue count
    drafts: {}, // id -> acknowledgement comment being typed
    form: null, // { id, kind }: the open assign/resolve form
    formDrafts: {}, // "<id>:<kind>" -> what is typed in that form
    snoozeChoice: {}, // id -> snooze length chosen ("1h", "4h", "morning", "1d")
    errors: {}, // id -> last error text (in the open form when there is one, else under the card)
    busy: new Set(),
    expanded: new Set(),
    histories: {}, // id -> lines
    focusNext: null, // focus keys to try, first found wins, after the next drawing
    renderPending: false,
    rendered: "", // what the list shows now (see render)
  };
  const phone = { ready: false, swReady: false, state: state };
  window.iocPhone = phone;

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // Every control carries "<alert id>:<name>", so a redrawn list gives the focus back.
  function keyed(node, id, name) {
    node.dataset.focusKey = id + ":" + name;
    return node;
  }

  // ---- data ---------------------------------------------------------------------------------

  // An alert whose form the person is filling in stays on screen when it closes or leaves the
  // open list meanwhile, so what they typed and why it can no longer be sent stay readable.
  function held(id) {
    return state.form !== null && String(state.form.id) === String(id);
  }

  function setAlert(alert) {
    if (!alert) return;
    if (alert.state !== "resolved" || held(alert.id)) state.alerts[alert.id] = alert;
    else delete state.alerts[alert.id];
  }

  function dropAlert(id) {
    if (!held(id)) delete state.alerts[id];
  }

  function replaceAlerts(alerts) {
    const keep = state.form ? state.alerts[state.form.id] : undefined;
    state.alerts = {};
    for (const alert of alerts) setAlert(alert);
    if (keep && !state.alerts[keep.id]) state.alerts[keep.id] = keep;
  }

  async function refresh() {
    const result = await A.api.open();
    if (result.status === 401) {
      S.goToSignIn(state.me);
      return;
    }
    if (!result.ok) {
      $("connection").textContent = "Không tải được cảnh báo: " + A.errorText(result);
      return;
    }
    replaceAlerts(result.body.alerts);
    $("connection").textContent = "Cập nhật lúc " + F.clock(new Date());
    phone.ready = true;
    render();
  }

  function startLive() {
    if (!window.IocLive) return;
    const live = new window.IocLive.LiveConnection({
      onSnapshot: (data) => {
        state.provinces = {};
        for (const p of data.provinces || []) state.provinces[p.code] = p;
        replaceAlerts(data.alerts || []);
        render();
      },
      onDelta: (changes) => {
        for (const [key, value] of Object.entries(changes)) {
          const colon = key.indexOf(":");
          const kind = key.slice(0, colon);
          const id = key.slice(colon + 1);
          if (kind === "alert") {
            if (value === null) dropAlert(id);
            else setAlert(value);
          } else if (kind === "province") {
            if (value === null) delete state.provinces[id];
            else state.provinces[id] = value;
          }
        }
        render();
      },
      onStatus: () => {},
      onUnauthenticated: () => S.goToSignIn(state.me),
      onForbidden: () => live.stop(), // the 15-second refresh still runs
    });
    live.start();
  }

  // ---- actions ------------------------------------------------------------------------------

  // The console's words for a failed call. A 422 carries its reasons as a list of {msg} (the API's
  // validation shape, also for the route's own checks such as an assignee out of scope), which
  // errorText only reads as a string: hand it the reasons joined, so the person learns why.
  function say(text) {
    $("notice").textContent = text;
  }

  // kind: "ack" | "unack" | "snooze" | "assign" | "resolve"; the last two come from a form.
  async function act(id, kind, promise) {
    state.busy.add(id);
    delete state.errors[id];
    say("");
    render(true);
    const result = await promise;
    state.busy.delete(id);
    const fromForm = kind === "assign" || kind === "resolve";
    if (result.ok) {
      const alert = result.body && result.body.alert;
      if (fromForm && held(id)) state.form = null;
      delete state.drafts[id];
      delete state.formDrafts[id + ":" + kind];
      setAlert(alert);
      if (kind === "resolve") {
        delete state.alerts[id];
        say("Đã đóng cảnh báo: " + (alert ? alert.summary_vi : "#" + id));
        state.focusNext = ["notice"];
      } else if (kind === "assign") {
        say(alert && alert.assignee ? "Đã giao cảnh báo cho " + alert.assignee + "." : "Đã bỏ giao cảnh báo.");
        state.focusNext = [id + ":button:assign"];
      } else {
        // Back to the button tapped, or (gone now: acknowledged, un-acknowledged) its counterpart.
        state.focusNext = [id + ":button:" + kind, id + ":button:unack", id + ":button:ack", id + ":button:history"];
      }
      if (state.expanded.has(id)) loadHistory(id);
    } else {
      state.errors[id] = A.errorText(result);
      // 409: someone closed it meanwhile; the card says so until the person closes the form.
      if (result.status === 409 && state.alerts[id]) state.alerts[id] = { ...state.alerts[id], state: "resolved" };
      if (fromForm) state.focusNext = [id + ":" + kind + "-field", id + ":" + kind + "-cancel"];
    }
    render(true);
    return result;
  }

  function snooze(alert) {
    const choice = state.snoozeChoice[alert.id] || DEFAULT_SNOOZE;
    const problem = A.formProblem("snooze", { choice: choice });
    if (problem) {
      state.errors[alert.id] = problem;
      render(true);
      return;
    }
    act(alert.id, "snooze", A.api.snooze(alert.id, A.snoozeUntil(choice, new Date()), ""));
  }

  function formValue(alert, kind) {
    const typed = state.formDrafts[alert.id + ":" + kind];
    if (typed !== undefined) return typed;
    return kind === "assign" ? alert.assignee || "" : "";
  }

  function openForm(alert, kind) {
    const id = alert.id;
    if (held(id) && state.form.kind === kind) {
      closeForm(id);
      return;
    }
    if (state.form && state.alerts[state.form.id] && state.alerts[state.form.id].state === "resolved") {
      delete state.alerts[state.form.id]; // the closed alert kept for the other form goes now
    }
    state.form = { id: id, kind: kind };
    delete state.errors[id];
    say("");
    state.focusNext = [id + ":" + kind + "-field"];
    render(true);
  }

  function closeForm(id) {
    const kind = state.form ? state.form.kind : null;
    state.form = null;
    delete state.errors[id];
    const alert = state.alerts[id];
    if (alert && alert.state === "resolved") {
      delete state.alerts[id];
      say("Cảnh báo đã đóng: " + alert.summary_vi); // the card goes; the focus lands on these words
      state.focusNext = ["notice"];
    } else {
      state.focusNext = [id + ":button:" + kind];
    }
    render(true);
  }

  // Checked here first (formProblem: the console's words), so an empty reason is never sent.
  function submitForm(alert, kind) {
    const id = alert.id;
    if (state.busy.has(id) || alert.state === "resolved") return;
    const value = formValue(alert, kind).trim();
    const problem = A.formProblem(kind, kind === "assign" ? { username: value } : { comment: value });
    if (problem) {
      state.errors[id] = problem;
      state.focusNext = [id + ":" + kind + "-field"];
      render(true);
      return;
    }
    act(id, kind, kind === "assign" ? A.api.assign(id, value) : A.api.resolve(id, value));
  }

  async function loadHistory(id) {
    const result = await A.api.detail(id);
    if (!state.expanded.has(id)) return;
    state.histories[id] = result.ok ? (result.body.timeline || []).map(A.historyLine) : [A.errorText(result)];
    render();
  }

  function toggleHistory(id) {
    state.focusNext = [id + ":button:history"];
    if (state.expanded.has(id)) {
      state.expanded.delete(id);
      delete state.histories[id];
      render(true);
      return;
    }
    state.expanded.add(id);
    render(true);
    loadHistory(id);
  }

  // ---- rendering ----------------------------------------------------------------------------

  function order(a, b) {
    return (STATE_RANK[a.state] - STATE_RANK[b.state]) ||
      (SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]) ||
      (Boolean(a.acknowledged_at) - Boolean(b.acknowledged_at)) ||
      (new Date(b.fired_at || b.active_since) - new Date(a.fired_at || a.active_since));
  }

  function renderKpis(alerts) {
    const open = alerts.filter((a) => a.state !== "resolved");
    $("kpi-firing").textContent = F.integer(open.filter((a) => a.state === "firing").length);
    $("kpi-critical").textContent = F.integer(open.filter((a) => a.severity === "critical").length);
    $("kpi-unacked").textContent = F.integer(open.filter((a) => !a.acknowledged_at).length);
    const provinces = Object.values(state.provinces);
    $("kpi-overdue").textContent = provinces.length
      ? F.integer(provinces.reduce((sum, p) => sum + (p.overdue || 0), 0))
      : "—";
  }

  function button(id, label, name, className, handler) {
    const b = keyed(el("button", className, label), id, "button:" + name);
    b.type = "button";
    b.dataset.action = name;
    b.addEventListener("click", handler);
    return b;
  }

  function ackRow(alert, busy) {
    const id = alert.id;
    const row = el("div", "ack-row");
    if (alert.acknowledged_at) {
      const undo = button(id, "Bỏ xác nhận", "unack", "ghost", () => act(id, "unack", A.api.unack(id, "")));
      undo.disabled = busy;
      row.appendChild(undo);
      return row;
    }
    const comment = keyed(el("input"), id, "ack-comment");
    comment.type = "text";
    comment.maxLength = 2000;
    comment.placeholder = "Ghi chú (không bắt buộc)";
    comment.setAttribute("aria-label", "Ghi chú khi xác nhận");
    comment.dataset.role = "ack-comment";
    comment.value = state.drafts[id] || "";
    comment.addEventListener("input", () => { state.drafts[id] = comment.value; });
    const ack = button(id, "Xác nhận", "ack", "", () => act(id, "ack", A.api.ack(id, (state.drafts[id] || "").trim())));
    ack.disabled = busy;
    row.append(comment, ack);
    return row;
  }

  // The console's snooze lengths (snoozeChoices), in a native picker: big and easy on a phone.
  function snoozeRow(alert, busy, now) {
    const id = alert.id;
    const row = el("div", "snooze");
    const pick = keyed(el("select"), id, "snooze-choice");
    pick.setAttribute("aria-label", "Thời gian tạm hoãn");
    pick.dataset.role = "snooze-choice";
    for (const choice of A.snoozeChoices(now)) {
      const option = el("option", "", choice.label);
      option.value = choice.value;
      pick.appendChild(option);
    }
    pick.value = state.snoozeChoice[id] || DEFAULT_SNOOZE;
    pick.addEventListener("change", () => { state.snoozeChoice[id] = pick.value; });
    const go = button(id, "Tạm hoãn", "snooze", "ghost", () => snooze(alert));
    go.disabled = busy;
    row.append(pick, go);
    if (alert.snoozed_until && new Date(alert.snoozed_until) > now) {
      const end = button(id, "Bỏ tạm hoãn", "snooze-end", "ghost", () => act(id, "snooze", A.api.snooze(id, null, "")));
      end.disabled = busy;
      row.appendChild(end);
    }
    return row;
  }

  function moreRow(alert, busy, open) {
    const id = alert.id;
    const row = el("div", "more");
    const formButton = (label, kind) => {
      const b = button(id, label, kind, open === kind ? "" : "ghost", () => openForm(alert, kind));
      b.setAttribute("aria-expanded", open === kind ? "true" : "false");
      if (open === kind) b.setAttribute("aria-controls", "alert-" + id + "-form");
      b.disabled = busy && open !== kind;
      return b;
    };
    row.append(formButton("Giao", "assign"), formButton("Đóng", "resolve"));
    const historyOpen = state.expanded.has(id);
    const history = button(id, historyOpen ? "Ẩn lịch sử" : "Lịch sử", "history", "ghost", () => toggleHistory(id));
    history.setAttribute("aria-expanded", historyOpen ? "true" : "false");
    row.appendChild(history);
    return row;
  }

  // The assign or resolve form: a visible label, the problem in words right under the field
  // (aria-invalid + aria-describedby), a big "send" and "Hủy".
  function actionForm(alert, kind, busy) {
    const id = alert.id;
    const spec = FORMS[kind];
    const closed = alert.state === "resolved";
    const form = el("form", "action-form");
    form.id = "alert-" + id + "-form";
    form.noValidate = true; // our own messages, in Vietnamese, next to the field
    form.dataset.form = kind;
    form.setAttribute("aria-label", spec.title);

    const fieldId = "alert-" + id + "-" + kind + "-" + spec.field;
    const label = el("label", "form-label", spec.label);
    label.htmlFor = fieldId;
    const input = keyed(el(kind === "resolve" ? "textarea" : "input", "form-input"), id, kind + "-field");
    input.id = fieldId;
    input.name = spec.field;
    input.maxLength = spec.maxLength;
    input.autocomplete = "off";
    input.value = formValue(alert, kind);
    input.disabled = closed;
    if (kind === "resolve") {
      input.rows = 3;
      input.setAttribute("aria-required", "true");
    } else {
      input.type = "text";
      input.spellcheck = false;
      input.setAttribute("autocapitalize", "none");
      input.setAttribute("autocorrect", "off");
      input.setAttribute("enterkeyhint", "send");
    }
    input.addEventListener("input", () => { state.formDrafts[id + ":" + kind] = input.value; });
    form.append(label, input);

    const described = [];
    if (spec.hint) {
      const hint = el("div", "form-hint", spec.hint);
      hint.id = fieldId + "-hint";
      described.push(hint.id);
      form.appendChild(hint);
    }
    const problem = state.errors[id] || (closed ? CLOSED : "");
    const error = el("div", "form-error", problem);
    error.id = "alert-" + id + "-form-error";
    error.setAttribute("role", "alert");
    form.appendChild(error);
    if (problem) {
      input.setAttribute("aria-invalid", "true");
      described.push(error.id);
    }
    if (described.length) input.setAttribute("aria-describedby", described.join(" "));

    const buttons = el("div", "form-buttons");
    const send = keyed(el("button", "form-submit", busy ? "Đang gửi…" : spec.submit), id, kind + "-submit");
    send.type = "submit";
    send.disabled = busy || closed;
    const cancel = keyed(el("button", "ghost", closed ? "Đã hiểu" : "Hủy"), id, kind + "-cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => closeForm(id));
    buttons.append(send, cancel);
    form.appendChild(buttons);

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitForm(state.alerts[id] || alert, kind);
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        closeForm(id);
      }
    });
    return form;
  }

  function card(alert, now) {
    const id = alert.id;
    const li = el("li", "alert-card severity-" + alert.severity + " state-" + alert.state);
    li.id = "alert-" + id;
    li.dataset.alertId = String(id);
    li.appendChild(el("div", "alert-summary", alert.summary_vi));
    const meta = el("div", "alert-meta");
    meta.appendChild(el("span", "", SEVERITY_LABEL[alert.severity] || alert.severity));
    meta.appendChild(el("span", "", STATE_LABEL[alert.state] || alert.state));
    const since = new Date(alert.fired_at || alert.active_since);
    if (!Number.isNaN(since.getTime())) meta.appendChild(el("span", "", F.timeSince(since, now)));
    li.appendChild(meta);

    const ack = el("div", "ack-state " + (alert.acknowledged_at ? "acked" : "unacked"), A.ackText(alert));
    ack.dataset.role = "ack-state";
    li.appendChild(ack);
    const people = A.peopleText(alert, now);
    if (people) li.appendChild(el("div", "people", people));

    const busy = state.busy.has(id);
    const open = held(id) ? state.form.kind : null;
    if (alert.state !== "resolved") {
      const actions = el("div", "actions");
      actions.append(ackRow(alert, busy), snoozeRow(alert, busy, now), moreRow(alert, busy, open));
      li.appendChild(actions);
    }
    if (open) li.appendChild(actionForm(alert, open, busy));
    else if (state.errors[id]) li.appendChild(el("div", "error-line", state.errors[id]));
    if (state.expanded.has(id)) {
      const history = el("ol", "history");
      history.dataset.role = "history";
      history.setAttribute("aria-label", "Lịch sử cảnh báo");
      for (const line of state.histories[id] || ["Đang tải…"]) history.appendChild(el("li", "", line));
      li.appendChild(history);
    }
    if (window.location.hash === "#alert-" + id) li.classList.add("focused");
    return li;
  }

  // Where the focus is in the list (and the caret, in a text field), to put it back after drawing.
  function focusInList(list) {
    const active = document.activeElement;
    if (!list.contains(active) || !active.dataset.focusKey) return null;
    const typed = typeof active.selectionStart === "number" && active.tagName !== "SELECT";
    return {
      keys: [active.dataset.focusKey],
      start: typed ? active.selectionStart : null,
      end: typed ? active.selectionEnd : null,
      scroll: false, // the person may have scrolled away on purpose
    };
  }

  function applyFocus(list, wanted) {
    for (const key of wanted.keys) {
      const node = key === "notice" ? $("notice") : list.querySelector('[data-focus-key="' + key + '"]');
      if (!node || node.disabled) continue;
      node.focus({ preventScroll: true });
      // The whole form in view (above the on-screen keyboard), not just its field.
      if (wanted.scroll) (node.closest("form") || node).scrollIntoView({ block: "nearest" });
      if (wanted.start !== null && typeof node.setSelectionRange === "function") {
        node.setSelectionRange(wanted.start, wanted.end);
      }
      return;
    }
  }

  // Typing must not be interrupted by the live feed: while a field in the list has the focus, the
  // list waits (until the focus leaves it). force: drawn now, because the person asked for it
  // (an action, a form opened or checked); the focus and the caret are put back.
  function render(force) {
    const list = $("alert-list");
    const active = document.activeElement;
    const typing = list.contains(active) && ["INPUT", "TEXTAREA", "SELECT"].includes(active.tagName);
    if (typing && !force) {
      state.renderPending = true;
      return;
    }
    state.renderPending = false;
    const now = new Date();
    const alerts = Object.values(state.alerts).sort(order);
    renderKpis(alerts);
    const asked = state.focusNext;
    state.focusNext = null;
    const wanted = asked ? { keys: asked, start: null, end: null, scroll: true } : focusInList(list);
    // Nothing changed (the live snapshot repeating the list, a refresh): keep the nodes, so a tap
    // that lands during an update is not lost. Ages ("5 phút") catch up on the next change.
    const signature = JSON.stringify([alerts, [...state.busy], state.errors, [...state.expanded], state.histories,
      state.form, window.location.hash]);
    const changed = signature !== state.rendered;
    if (changed) {
      state.rendered = signature;
      const items = alerts.map((a) => card(a, now));
      if (items.length === 0) items.push(el("li", "empty", "Không có cảnh báo đang mở trong phạm vi của bạn."));
      list.replaceChildren(...items);
    }
    if (wanted && (asked || changed)) applyFocus(list, wanted);
  }

  function flushRender() {
    setTimeout(() => { if (state.renderPending) render(); }, 0);
  }

  function focusFromHash() {
    const target = document.getElementById(window.location.hash.slice(1));
    if (target) target.scrollIntoView({ block: "center" });
  }

  // ---- service worker and Web Push ----------------------------------------------------------

  function keyBytes(base64url) {
    const padded = (base64url + "===".slice((base64url.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    const raw = window.atob(padded);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function registerWorker() {
    if (!("serviceWorker" in navigator)) return null;
    const registration = navigator.serviceWorker.register("/sw.js", { scope: "/" });
    navigator.serviceWorker.ready.then(() => { phone.swReady = true; });
    registration.catch((err) => console.warn("IOC phone: service worker not registered", err));
    return registration;
  }

  async function enablePush() {
    const status = $("push-status");
    const say = (text) => { status.textContent = text; };
    if (!("serviceWorker" in navigator) || !("PushManager" in window) || !("Notification" in window)) {
      say("Trình duyệt này không hỗ trợ thông báo đẩy (trên iPhone: thêm trang vào Màn hình chính trước).");
      return;
    }
    $("enable-push").disabled = true;
    try {
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        say("Bạn chưa cho phép thông báo. Hãy bật trong cài đặt trình duyệt.");
        return;
      }
      const keyResult = await fetch("/api/v1/push/vapid-public-key", { credentials: "same-origin", cache: "no-store" });
      const publicKey = keyResult.ok ? (await keyResult.json()).public_key : null;
      if (!publicKey) {
        say("Máy chủ chưa cấu hình thông báo đẩy (VAPID). Hãy báo quản trị viên.");
        return;
      }
      const registration = await navigator.serviceWorker.ready;
      let subscription = await registration.pushManager.getSubscription();
      if (!subscription) {
        subscription = await registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: keyBytes(publicKey),
        });
      }
      const saved = await fetch("/api/v1/push/subscriptions", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(subscription.toJSON()),
      });
      say(saved.ok ? "Đã bật thông báo trên thiết bị này." : "Không lưu được đăng ký (HTTP " + saved.status + ").");
    } catch (err) {
      say("Không bật được thông báo: " + (err && err.message ? err.message : err));
    } finally {
      $("enable-push").disabled = false;
    }
  }

  // ---- start --------------------------------------------------------------------------------

  async function start() {
    registerWorker();
    const who = await S.whoAmI();
    if (who.status === "signed-out") {
      S.goToSignIn(null);
      return;
    }
    if (who.status !== "ok") {
      $("banner").textContent = "Không kiểm tra được đăng nhập (" + who.message + "). Đang thử lại…";
      $("banner").hidden = false;
      setTimeout(start, 5000);
      return;
    }
    state.me = who.me;
    $("banner").hidden = true;
    $("who").textContent = who.me.name + " · " + S.roleLabel(who.me.role);
    if (!A.canAct(who.me)) {
      $("banner").textContent = "Trang này dành cho cán bộ đã đăng nhập bằng tài khoản cá nhân.";
      $("banner").hidden = false;
    }
    const signOut = $("sign-out");
    signOut.hidden = false;
    signOut.addEventListener("click", () => S.signOut());
    $("enable-push").addEventListener("click", enablePush);
    $("alert-list").addEventListener("focusout", flushRender);
    await refresh();
    focusFromHash();
    window.addEventListener("hashchange", () => { render(); focusFromHash(); });
    setInterval(refresh, REFRESH_MS);
    startLive();
  }

  start();
})();
