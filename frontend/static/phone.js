// The phone page: the signed-in person's open alerts, acknowledge with one tap, snooze, history,
// a small strip of numbers, and "Bật thông báo" (Web Push through the service worker /sw.js).
//
// Alerts come from GET /api/v1/alerts?state=open (every 15 s and after each action) and from the
// live feed (/ws, the dashboard's protocol: snapshot + deltas) when it is reachable; both are
// already narrowed to the person's scope by the server. Tests read window.iocPhone.
(function () {
  "use strict";

  const S = window.IocSession;
  const A = window.IocAlertActions;
  const F = window.IocFormat;
  const REFRESH_MS = 15000;
  const SNOOZE_CHOICES = [[1, "1 giờ"], [4, "4 giờ"], [24, "1 ngày"], [72, "3 ngày"], [168, "7 ngày"]];
  const SEVERITY_LABEL = { critical: "Nghiêm trọng", warning: "Cảnh báo", info: "Thông tin" };
  const STATE_LABEL = { firing: "Đang cảnh báo", pending: "Đang theo dõi", resolved: "Đã hết" };
  const SEVERITY_RANK = { critical: 0, warning: 1, info: 2 };
  const STATE_RANK = { firing: 0, pending: 1, resolved: 2 };

  const state = {
    me: null,
    alerts: {}, // id -> alert (open ones only)
    provinces: {}, // from the live snapshot, for the overdue count
    drafts: {}, // id -> comment being typed
    errors: {}, // id -> last error text
    busy: new Set(),
    expanded: new Set(),
    histories: {}, // id -> lines
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

  // ---- data ---------------------------------------------------------------------------------

  function setAlert(alert) {
    if (!alert) return;
    if (alert.state === "resolved") delete state.alerts[alert.id];
    else state.alerts[alert.id] = alert;
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
    state.alerts = {};
    for (const alert of result.body.alerts) setAlert(alert);
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
        state.alerts = {};
        for (const a of data.alerts || []) setAlert(a);
        render();
      },
      onDelta: (changes) => {
        for (const [key, value] of Object.entries(changes)) {
          const colon = key.indexOf(":");
          const kind = key.slice(0, colon);
          const id = key.slice(colon + 1);
          if (kind === "alert") {
            if (value === null) delete state.alerts[id];
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

  async function act(id, promise) {
    state.busy.add(id);
    delete state.errors[id];
    render();
    const result = await promise;
    state.busy.delete(id);
    if (result.ok) {
      if (result.body && result.body.alert) setAlert(result.body.alert);
      delete state.drafts[id];
      delete state.histories[id];
    } else {
      state.errors[id] = A.errorText(result);
    }
    render();
    return result;
  }

  async function toggleHistory(id) {
    if (state.expanded.has(id)) {
      state.expanded.delete(id);
      render();
      return;
    }
    state.expanded.add(id);
    const result = await A.api.detail(id);
    state.histories[id] = result.ok ? (result.body.timeline || []).map(A.historyLine) : [A.errorText(result)];
    render();
  }

  // ---- rendering ----------------------------------------------------------------------------

  function order(a, b) {
    return (STATE_RANK[a.state] - STATE_RANK[b.state]) ||
      (SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity]) ||
      (Boolean(a.acknowledged_at) - Boolean(b.acknowledged_at)) ||
      (new Date(b.fired_at || b.active_since) - new Date(a.fired_at || a.active_since));
  }

  function renderKpis(alerts) {
    $("kpi-firing").textContent = F.integer(alerts.filter((a) => a.state === "firing").length);
    $("kpi-critical").textContent = F.integer(alerts.filter((a) => a.severity === "critical").length);
    $("kpi-unacked").textContent = F.integer(alerts.filter((a) => !a.acknowledged_at).length);
    const provinces = Object.values(state.provinces);
    $("kpi-overdue").textContent = provinces.length
      ? F.integer(provinces.reduce((sum, p) => sum + (p.overdue || 0), 0))
      : "—";
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
    const actions = el("div", "actions");
    if (!alert.acknowledged_at) {
      const comment = el("input");
      comment.type = "text";
      comment.maxLength = 2000;
      comment.placeholder = "Ghi chú (không bắt buộc)";
      comment.setAttribute("aria-label", "Ghi chú khi xác nhận");
      comment.dataset.role = "ack-comment";
      comment.value = state.drafts[id] || "";
      comment.addEventListener("input", () => { state.drafts[id] = comment.value; });
      comment.addEventListener("blur", flushRender);
      const button = el("button", "", "Xác nhận");
      button.type = "button";
      button.dataset.action = "ack";
      button.disabled = busy;
      button.addEventListener("click", () => act(id, A.api.ack(id, (state.drafts[id] || "").trim())));
      actions.append(comment, button);
    } else {
      const undo = el("button", "ghost", "Bỏ xác nhận");
      undo.type = "button";
      undo.dataset.action = "unack";
      undo.disabled = busy;
      undo.addEventListener("click", () => act(id, A.api.unack(id, "")));
      actions.append(el("span"), undo);
    }
    const snooze = el("div", "snooze");
    const pick = el("select");
    pick.setAttribute("aria-label", "Thời gian tạm hoãn");
    for (const [hours, label] of SNOOZE_CHOICES) {
      const option = el("option", "", label);
      option.value = String(hours);
      pick.appendChild(option);
    }
    pick.value = "4";
    const snoozeButton = el("button", "ghost", "Tạm hoãn");
    snoozeButton.type = "button";
    snoozeButton.dataset.action = "snooze";
    snoozeButton.disabled = busy;
    snoozeButton.addEventListener("click", () =>
      act(id, A.api.snooze(id, new Date(Date.now() + Number(pick.value) * 3600e3), "")));
    const historyButton = el("button", "ghost", state.expanded.has(id) ? "Ẩn lịch sử" : "Lịch sử");
    historyButton.type = "button";
    historyButton.dataset.action = "history";
    historyButton.addEventListener("click", () => toggleHistory(id));
    snooze.append(pick, snoozeButton, historyButton);
    actions.appendChild(snooze);
    li.appendChild(actions);

    if (state.errors[id]) li.appendChild(el("div", "error-line", state.errors[id]));
    if (state.expanded.has(id)) {
      const history = el("ol", "history");
      history.dataset.role = "history";
      for (const line of state.histories[id] || ["Đang tải…"]) history.appendChild(el("li", "", line));
      li.appendChild(history);
    }
    if (window.location.hash === "#alert-" + id) li.classList.add("focused");
    return li;
  }

  // Typing a comment must not be interrupted: while an input in the list has focus, wait.
  function render() {
    const list = $("alert-list");
    if (list.contains(document.activeElement) && document.activeElement.tagName === "INPUT") {
      state.renderPending = true;
      return;
    }
    state.renderPending = false;
    const now = new Date();
    const alerts = Object.values(state.alerts).sort(order);
    renderKpis(alerts);
    // Nothing changed (the live snapshot repeating the list, a refresh): keep the nodes, so a tap
    // that lands during an update is not lost. Ages ("5 phút") catch up on the next change.
    const signature = JSON.stringify([alerts, [...state.busy], state.errors, [...state.expanded], state.histories,
      window.location.hash]);
    if (signature === state.rendered) return;
    state.rendered = signature;
    const items = alerts.map((a) => card(a, now));
    if (items.length === 0) items.push(el("li", "empty", "Không có cảnh báo đang mở trong phạm vi của bạn."));
    list.replaceChildren(...items);
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
    await refresh();
    focusFromHash();
    window.addEventListener("hashchange", () => { render(); focusFromHash(); });
    setInterval(refresh, REFRESH_MS);
    startLive();
  }

  start();
})();
