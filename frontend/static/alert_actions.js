// People acting on alerts: the API calls (shared by the console and the phone page), the words
// for an alert's acknowledgement and history, and the console's buttons on each alert.
//
// API: POST /api/v1/alerts/{id}/ack | unack | comments | assign | snooze | resolve, GET /{id} (its
// `timeline`: transitions and people's actions in time order). Every call sends the session cookie.
(function () {
  "use strict";

  const BASE = "/api/v1/alerts/";
  const MAX_SNOOZE_HOURS = 168; // the server refuses more than 7 days

  const KIND_LABEL = {
    transition: "Trạng thái",
    ack: "Xác nhận",
    unack: "Bỏ xác nhận",
    comment: "Ghi chú",
    assign: "Giao việc",
    snooze: "Tạm hoãn",
    resolve: "Đóng",
    escalate: "Chuyển cấp trên",
    notify: "Đã gửi thông báo",
    silenced: "Đang tạm im lặng",
  };
  const STATE_LABEL = { pending: "chờ", firing: "đang cảnh báo", resolved: "đã hết" };

  // ---- API ----------------------------------------------------------------------------------

  // -> { ok, status, body }
  async function call(method, url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: method,
        credentials: "same-origin",
        cache: "no-store",
        headers: body === undefined ? {} : { "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (err) {
      return { ok: false, status: 0, body: null };
    }
    let parsed = null;
    try {
      parsed = await response.json();
    } catch (err) {
      parsed = null;
    }
    return { ok: response.ok, status: response.status, body: parsed };
  }

  const api = {
    ack: (id, comment) => call("POST", BASE + id + "/ack", { comment: comment || "" }),
    unack: (id, comment) => call("POST", BASE + id + "/unack", { comment: comment || "" }),
    comment: (id, comment) => call("POST", BASE + id + "/comments", { comment: comment }),
    assign: (id, username, comment) =>
      call("POST", BASE + id + "/assign", { assignee: username || null, comment: comment || "" }),
    // until: a Date, or null to end the snooze
    snooze: (id, until, comment) =>
      call("POST", BASE + id + "/snooze", { until: until ? until.toISOString() : null, comment: comment || "" }),
    resolve: (id, comment) => call("POST", BASE + id + "/resolve", { comment: comment }),
    detail: (id) => call("GET", BASE + id),
    open: () => call("GET", BASE + "?state=open&limit=500"),
  };

  // ---- words (pure) --------------------------------------------------------------------------

  function hhmm(iso) {
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return "";
    const pad = (n) => String(n).padStart(2, "0");
    return pad(d.getHours()) + ":" + pad(d.getMinutes()) + " " + pad(d.getDate()) + "/" + pad(d.getMonth() + 1);
  }

  function ackText(alert) {
    if (alert.acknowledged_at) return "Đã xác nhận: " + alert.acknowledged_by + " lúc " + hhmm(alert.acknowledged_at);
    return "Chưa xác nhận";
  }

  function peopleText(alert, now) {
    const parts = [];
    if (alert.assignee) parts.push("Giao cho: " + alert.assignee);
    if (alert.snoozed_until && new Date(alert.snoozed_until) > (now || new Date())) {
      parts.push("Tạm hoãn đến " + hhmm(alert.snoozed_until));
    }
    if (alert.resolved_by) parts.push("Đóng bởi: " + alert.resolved_by);
    return parts.join(" · ");
  }

  function historyLine(entry) {
    const when = hhmm(entry.at);
    if (entry.kind === "transition") {
      const to = STATE_LABEL[entry.to_state] || entry.to_state;
      return when + " · " + KIND_LABEL.transition + ": " + to + (entry.comment ? " — " + entry.comment : "");
    }
    let text = when + " · " + (KIND_LABEL[entry.kind] || entry.kind) + " · " + entry.actor;
    const data = entry.data || {};
    if (entry.kind === "assign") text += " → " + (data.assignee || "(bỏ giao)");
    if (entry.kind === "snooze") text += data.until ? " đến " + hhmm(data.until) : " (kết thúc)";
    if (entry.comment) text += ": " + entry.comment;
    return text;
  }

  function errorText(result) {
    const detail = result.body && typeof result.body.detail === "string" ? result.body.detail : "";
    switch (result.status) {
      case 0: return "Không kết nối được máy chủ.";
      case 401: return "Phiên đăng nhập đã hết, hãy đăng nhập lại.";
      case 403: return "Không có quyền với cảnh báo này.";
      case 404: return "Không tìm thấy cảnh báo.";
      case 409: return "Cảnh báo đã đóng.";
      case 422: return "Dữ liệu không hợp lệ" + (detail ? ": " + detail : ".");
      default: return "Lỗi máy chủ (HTTP " + result.status + ").";
    }
  }

  // ---- console: buttons on the dashboard's alert list ----------------------------------------

  const expanded = new Set(); // alert ids whose history is open (kept across re-renders)
  const histories = {}; // alert id -> { key, lines } (refetched when the alert changes)

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function alertKey(alert) {
    return [alert.state, alert.acknowledged_at, alert.assignee, alert.snoozed_until, alert.updated_at].join("|");
  }

  async function loadHistory(alert, box) {
    const key = alertKey(alert);
    const cached = histories[alert.id];
    if (cached && cached.key === key) {
      box.replaceChildren(...cached.lines.map((t) => el("li", "", t)));
      return;
    }
    const result = await api.detail(alert.id);
    if (!result.ok) {
      box.replaceChildren(el("li", "error-line", errorText(result)));
      return;
    }
    const lines = (result.body.timeline || []).map(historyLine);
    histories[alert.id] = { key: key, lines: lines };
    box.replaceChildren(...lines.map((t) => el("li", "", t)));
  }

  // Adds the acknowledgement line, the buttons and (if open) the history to one alert's <li>.
  // onChanged(): called after an action succeeded (the live feed also brings the change).
  function decorate(li, alert, onChanged) {
    const status = el("div", "alert-people " + (alert.acknowledged_at ? "acked" : "unacked"), ackText(alert));
    const people = peopleText(alert);
    if (people) status.textContent += " · " + people;
    li.appendChild(status);
    const buttons = el("div", "alert-actions");
    const error = el("div", "error-line");
    const act = async (promise) => {
      const result = await promise;
      if (!result.ok) error.textContent = errorText(result);
      else if (onChanged) onChanged(result.body);
    };
    const button = (label, name, handler) => {
      const b = el("button", "alert-action", label);
      b.type = "button";
      b.dataset.action = name;
      b.addEventListener("click", (event) => {
        event.stopPropagation();
        handler();
      });
      buttons.appendChild(b);
    };
    if (alert.state !== "resolved") {
      if (!alert.acknowledged_at) {
        button("Xác nhận", "ack", () => {
          const comment = window.prompt("Ghi chú (không bắt buộc):", "");
          if (comment !== null) act(api.ack(alert.id, comment));
        });
      }
      button("Giao", "assign", () => {
        const who = window.prompt("Giao cho (tên đăng nhập; để trống để bỏ giao):", alert.assignee || "");
        if (who !== null) act(api.assign(alert.id, who.trim()));
      });
      button("Tạm hoãn", "snooze", () => {
        const hours = Number(window.prompt("Tạm hoãn bao nhiêu giờ (1–" + MAX_SNOOZE_HOURS + ")? 0 = bỏ tạm hoãn", "4"));
        if (!Number.isFinite(hours) || hours < 0 || hours > MAX_SNOOZE_HOURS) return;
        act(api.snooze(alert.id, hours === 0 ? null : new Date(Date.now() + hours * 3600e3)));
      });
      button("Đóng", "resolve", () => {
        const comment = window.prompt("Vì sao đóng cảnh báo này?", "");
        if (comment && comment.trim()) act(api.resolve(alert.id, comment.trim()));
      });
    }
    const historyBox = el("ol", "alert-history");
    button(expanded.has(alert.id) ? "Ẩn lịch sử" : "Lịch sử", "history", () => {
      if (expanded.has(alert.id)) expanded.delete(alert.id);
      else expanded.add(alert.id);
      if (onChanged) onChanged(null);
    });
    li.appendChild(buttons);
    li.appendChild(error);
    if (expanded.has(alert.id)) {
      li.appendChild(historyBox);
      loadHistory(alert, historyBox);
    }
  }

  // Whether a signed-in identity may act on alerts (people; wall screens only watch).
  function canAct(identity) {
    return Boolean(identity) && ["admin", "leader", "operator", "subscriber"].includes(identity.role) &&
      identity.credential !== "display_token";
  }

  window.IocAlertActions = { api, ackText, peopleText, historyLine, errorText, hhmm, decorate, canAct, MAX_SNOOZE_HOURS };
})();
