// People acting on alerts: the API calls (shared by the console and the phone page), the words
// for an alert's acknowledgement and history, and the console's buttons on each alert, each
// opening a small form in the alert's row (comment, assignee, snooze length): no window.prompt.
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

  // -> { ok, status, body }; status 0 when the server could not be reached. Shared by the pages'
  // other API calls too (the phone settings).
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
    // FastAPI answers a string, or (validation) a list of {msg}: both are said in words.
    const raw = result.body ? result.body.detail : null;
    const detail = typeof raw === "string" ? raw
      : Array.isArray(raw) ? raw.map((d) => (d && typeof d.msg === "string" ? d.msg : "")).filter(Boolean).join("; ")
      : "";
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

  // ---- choices and checks (pure) -------------------------------------------------------------

  // Việt Nam keeps UTC+7 all year, so "tomorrow morning" is computed there whatever the browser's zone.
  const VN_OFFSET_MS = 7 * 3600e3;
  const MORNING_HOUR = 8; // offices open at 08:00 (alerts/calendar.py)
  const DEFAULT_SNOOZE = "4h";
  const USERNAME = /^[a-z0-9][a-z0-9._@-]{1,63}$/; // the server's rule (ioc/api/alerts.py)

  // 08:00 Việt Nam time on the next calendar day there.
  function tomorrowMorning(now) {
    const vn = new Date(now.getTime() + VN_OFFSET_MS);
    const utc = Date.UTC(vn.getUTCFullYear(), vn.getUTCMonth(), vn.getUTCDate() + 1, MORNING_HOUR);
    return new Date(utc - VN_OFFSET_MS);
  }

  function vnDayMonth(at) {
    const vn = new Date(at.getTime() + VN_OFFSET_MS);
    const pad = (n) => String(n).padStart(2, "0");
    return pad(vn.getUTCDate()) + "/" + pad(vn.getUTCMonth() + 1);
  }

  // The snooze lengths offered on the console: [{ value, label, until }] at `now`.
  function snoozeChoices(now) {
    const morning = tomorrowMorning(now);
    return [
      { value: "1h", label: "1 giờ", until: new Date(now.getTime() + 3600e3) },
      { value: "4h", label: "4 giờ", until: new Date(now.getTime() + 4 * 3600e3) },
      { value: "morning", label: "Đến sáng mai (08:00 ngày " + vnDayMonth(morning) + ")", until: morning },
      { value: "1d", label: "1 ngày", until: new Date(now.getTime() + 24 * 3600e3) },
    ];
  }

  function snoozeUntil(value, now) {
    const choice = snoozeChoices(now).find((c) => c.value === value);
    return choice ? choice.until : null;
  }

  // Why a form cannot be sent as filled in (null: it can). values: { comment, username, choice }.
  function formProblem(kind, values) {
    if (kind === "resolve" && !values.comment) return "Hãy ghi lý do đóng cảnh báo.";
    if (kind === "assign" && values.username && !USERNAME.test(values.username)) {
      return "Tên đăng nhập gồm 2–64 ký tự: chữ thường không dấu, số và . _ @ -";
    }
    if (kind === "snooze" && !snoozeChoices(new Date(0)).some((c) => c.value === values.choice)) {
      return "Hãy chọn thời gian tạm hoãn.";
    }
    return null;
  }

  // ---- console: buttons and small inline forms on the dashboard's alert list -----------------
  //
  // The dashboard redraws its whole alert list on every live change, so what a person is doing
  // lives here, not in the DOM: the one open form, what they typed, a request in flight, the last
  // error, which histories are open. Every control carries data-focus-key ("<alert id>:<name>"),
  // so a redraw puts the keyboard focus (and the caret) back where it was.

  const ui = {
    form: null, // { id, kind } the open form (one at a time): "ack" | "assign" | "snooze" | "resolve"
    drafts: {}, // "<id>:<kind>:<field>" -> value being typed or chosen
    busy: new Set(), // alert ids with a request in flight
    errors: {}, // alert id -> what went wrong last
    expanded: new Set(), // alert ids whose history is open
    histories: {}, // alert id -> { key, lines } (lines null while loading; refetched when the alert changes)
    focusNext: null, // { id, keys }: focus the first of these controls after the next redraw
  };

  const FORM_TITLE = {
    ack: "Xác nhận cảnh báo",
    assign: "Giao cảnh báo cho người khác",
    snooze: "Tạm hoãn cảnh báo",
    resolve: "Đóng cảnh báo",
  };
  const SUBMIT_LABEL = { ack: "Xác nhận", assign: "Giao", snooze: "Tạm hoãn", resolve: "Đóng cảnh báo" };
  const FIRST_FIELD = { ack: "comment", assign: "username", resolve: "comment" };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function alertKey(alert) {
    return [alert.state, alert.acknowledged_at, alert.assignee, alert.snoozed_until, alert.resolved_by,
      alert.updated_at].join("|");
  }

  function keyed(node, alertId, name) {
    node.dataset.focusKey = alertId + ":" + name;
    return node;
  }

  function draftKey(id, kind, field) {
    return id + ":" + kind + ":" + field;
  }

  function draft(id, kind, field, fallback) {
    const value = ui.drafts[draftKey(id, kind, field)];
    return value === undefined ? fallback : value;
  }

  function forgetDrafts(id) {
    for (const key of Object.keys(ui.drafts)) if (key.startsWith(id + ":")) delete ui.drafts[key];
  }

  // Which form may be open on this alert now (someone else may have acknowledged or closed it).
  function formAllowed(alert, kind) {
    if (alert.state === "resolved") return false;
    return kind !== "ack" || !alert.acknowledged_at;
  }

  // Where the focus was, if it was on one of this alert's controls (the old nodes are still in the page).
  function focusInside(alertId) {
    const active = document.activeElement;
    const key = active && active.dataset ? active.dataset.focusKey : undefined;
    if (!key || !key.startsWith(alertId + ":")) return null;
    const typed = active.tagName === "INPUT" && active.type === "text";
    return { keys: [key], start: typed ? active.selectionStart : null, end: typed ? active.selectionEnd : null };
  }

  // After the dashboard has put the new <li> in the page (same task, so a microtask is late enough).
  function restoreFocus(li, wanted, scroll) {
    queueMicrotask(() => {
      if (!li.isConnected) return;
      for (const key of wanted.keys) {
        const node = li.querySelector('[data-focus-key="' + key + '"]');
        if (!node || node.disabled) continue;
        node.focus({ preventScroll: true });
        // The whole form in view (the alert list scrolls), not just its first field.
        if (scroll) (node.closest("form") || node).scrollIntoView({ block: "nearest" });
        if (wanted.start !== null && wanted.start !== undefined && typeof node.setSelectionRange === "function") {
          node.setSelectionRange(wanted.start, wanted.end);
        }
        return;
      }
    });
  }

  // The focus key of a form's first field (for the snooze form: the radio of the current choice).
  function firstFieldKey(id, kind) {
    if (kind === "snooze") return "snooze-choice-" + draft(id, kind, "choice", DEFAULT_SNOOZE);
    return kind + "-" + FIRST_FIELD[kind];
  }

  function requestFocus(id, keys) {
    ui.focusNext = { id: id, keys: keys.map((k) => id + ":" + k) };
  }

  function labelled(id, kind, field, labelText) {
    const fieldId = "alert-" + id + "-" + kind + "-" + field;
    const label = el("label", "alert-form-label", labelText);
    label.htmlFor = fieldId;
    return { fieldId, label };
  }

  function textField(alert, kind, field, labelText, options) {
    const id = alert.id;
    const { fieldId, label } = labelled(id, kind, field, labelText);
    const input = keyed(el("input", "alert-form-input"), id, kind + "-" + field);
    input.type = "text";
    input.id = fieldId;
    input.name = field;
    input.maxLength = options.maxLength;
    input.autocomplete = "off";
    input.value = draft(id, kind, field, options.initial || "");
    if (options.required) input.setAttribute("aria-required", "true");
    if (options.technical) {
      input.spellcheck = false;
      input.setAttribute("autocapitalize", "none");
    }
    input.addEventListener("input", () => { ui.drafts[draftKey(id, kind, field)] = input.value; });
    const wrap = el("div", "alert-form-field");
    wrap.append(label, input);
    if (options.hint) {
      const hint = el("div", "alert-form-hint", options.hint);
      hint.id = fieldId + "-hint";
      input.setAttribute("aria-describedby", hint.id);
      wrap.appendChild(hint);
    }
    return { wrap, input };
  }

  function snoozeField(alert) {
    const id = alert.id;
    const set = el("fieldset", "alert-form-choices");
    set.appendChild(el("legend", "alert-form-label", "Tạm hoãn trong"));
    const chosen = draft(id, "snooze", "choice", DEFAULT_SNOOZE);
    for (const choice of snoozeChoices(new Date())) {
      const radio = keyed(el("input"), id, "snooze-choice-" + choice.value);
      radio.type = "radio";
      radio.name = "alert-" + id + "-snooze";
      radio.id = "alert-" + id + "-snooze-" + choice.value;
      radio.value = choice.value;
      radio.checked = choice.value === chosen;
      radio.addEventListener("change", () => {
        if (radio.checked) ui.drafts[draftKey(id, "snooze", "choice")] = choice.value;
      });
      const label = el("label", "alert-form-choice");
      label.htmlFor = radio.id;
      label.append(radio, document.createTextNode(" " + choice.label));
      set.appendChild(label);
    }
    return set;
  }

  // The inline form of one action, in the alert's row.
  function actionForm(alert, kind, onChanged) {
    const id = alert.id;
    const busy = ui.busy.has(id);
    const form = el("form", "alert-form");
    form.id = "alert-" + id + "-form";
    form.noValidate = true; // our own messages, in Vietnamese, next to the field
    form.dataset.form = kind;
    form.setAttribute("aria-label", FORM_TITLE[kind]);
    let field = null;
    if (kind === "ack") {
      field = textField(alert, kind, "comment", "Ghi chú khi xác nhận (không bắt buộc)", { maxLength: 2000 });
    } else if (kind === "resolve") {
      field = textField(alert, kind, "comment", "Lý do đóng cảnh báo (bắt buộc)", { maxLength: 2000, required: true });
    } else if (kind === "assign") {
      field = textField(alert, kind, "username", "Giao cho (tên đăng nhập)", {
        maxLength: 64, initial: alert.assignee || "", technical: true, hint: "Để trống để bỏ giao.",
      });
    }
    if (field) form.appendChild(field.wrap);
    else form.appendChild(snoozeField(alert));

    const error = el("div", "alert-form-error", ui.errors[id] || "");
    error.id = "alert-" + id + "-form-error";
    error.setAttribute("role", "alert");
    if (field && ui.errors[id]) {
      field.input.setAttribute("aria-invalid", "true");
      const described = field.input.getAttribute("aria-describedby");
      field.input.setAttribute("aria-describedby", (described ? described + " " : "") + error.id);
    }

    const buttons = el("div", "alert-form-buttons");
    const sendLabel = busy ? "Đang gửi…" : SUBMIT_LABEL[kind];
    const send = keyed(el("button", "alert-form-submit", sendLabel), id, kind + "-submit");
    send.type = "submit";
    send.disabled = busy;
    buttons.appendChild(send);
    if (kind === "snooze" && snoozedNow(alert, new Date())) {
      const end = keyed(el("button", "alert-form-secondary", "Bỏ tạm hoãn"), id, "snooze-end");
      end.type = "button";
      end.disabled = busy;
      end.addEventListener("click", () => perform(alert, kind, api.snooze(id, null), onChanged));
      buttons.appendChild(end);
    }
    const cancel = keyed(el("button", "alert-form-secondary", "Hủy"), id, kind + "-cancel");
    cancel.type = "button";
    cancel.addEventListener("click", () => closeForm(id, kind, onChanged));
    buttons.appendChild(cancel);
    form.append(error, buttons);

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!ui.busy.has(id)) submit(alert, kind, onChanged);
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        closeForm(id, kind, onChanged);
      }
    });
    form.addEventListener("click", (event) => event.stopPropagation());
    return form;
  }

  function snoozedNow(alert, now) {
    return Boolean(alert.snoozed_until) && new Date(alert.snoozed_until) > now;
  }

  function closeForm(id, kind, onChanged) {
    if (ui.form && ui.form.id === id && ui.form.kind === kind) ui.form = null;
    delete ui.errors[id];
    requestFocus(id, ["button:" + kind, "button:history"]);
    onChanged(null);
  }

  function openForm(alert, kind, onChanged) {
    const id = alert.id;
    if (ui.form && ui.form.id === id && ui.form.kind === kind) {
      closeForm(id, kind, onChanged);
      return;
    }
    ui.form = { id: id, kind: kind };
    delete ui.errors[id];
    requestFocus(id, [firstFieldKey(id, kind)]);
    onChanged(null);
  }

  function submit(alert, kind, onChanged) {
    const id = alert.id;
    const values = {
      comment: draft(id, kind, "comment", "").trim(),
      username: draft(id, kind, "username", alert.assignee || "").trim(),
      choice: draft(id, kind, "choice", DEFAULT_SNOOZE),
    };
    const problem = formProblem(kind, values);
    if (problem) {
      ui.errors[id] = problem;
      requestFocus(id, [firstFieldKey(id, kind)]);
      onChanged(null);
      return;
    }
    let request;
    if (kind === "ack") request = api.ack(id, values.comment);
    else if (kind === "resolve") request = api.resolve(id, values.comment);
    else if (kind === "assign") request = api.assign(id, values.username);
    else request = api.snooze(id, snoozeUntil(values.choice, new Date()));
    perform(alert, kind, request, onChanged);
  }

  async function perform(alert, kind, request, onChanged) {
    const id = alert.id;
    ui.busy.add(id);
    delete ui.errors[id];
    onChanged(null);
    const result = await request;
    ui.busy.delete(id);
    if (result.ok) {
      if (ui.form && ui.form.id === id) ui.form = null;
      forgetDrafts(id);
      // Back to the action's button, or (gone now: acknowledged, closed) the next one that stays.
      requestFocus(id, ["button:" + kind, "button:assign", "button:history"]);
      onChanged(result.body);
    } else {
      ui.errors[id] = errorText(result);
      requestFocus(id, [firstFieldKey(id, kind), "button:" + kind]);
      onChanged(null);
    }
  }

  function historyList(alert, onChanged) {
    const id = alert.id;
    const key = alertKey(alert);
    const known = ui.histories[id];
    if (!known || known.key !== key) {
      ui.histories[id] = { key: key, lines: null };
      api.detail(id).then((result) => {
        const entry = ui.histories[id];
        if (!entry || entry.key !== key) return; // closed, or the alert changed again meanwhile
        entry.lines = result.ok ? (result.body.timeline || []).map(historyLine) : [errorText(result)];
        onChanged(null);
      });
    }
    const box = el("ol", "alert-history");
    box.id = "alert-" + id + "-history";
    box.setAttribute("aria-label", "Lịch sử cảnh báo");
    const lines = ui.histories[id].lines;
    box.setAttribute("aria-busy", lines === null ? "true" : "false");
    for (const line of lines || ["Đang tải…"]) box.appendChild(el("li", "", line));
    return box;
  }

  // Adds the acknowledgement line, the buttons, the open form and the open history to one
  // alert's <li>. onChanged(body): redraw the list; body.alert (when given) is the alert as the
  // action left it (the live feed brings the same change a moment later).
  function decorate(li, alert, onChanged) {
    const id = alert.id;
    const redraw = onChanged || (() => {});
    const keep = focusInside(id);
    li.dataset.alertId = String(id);
    const status = el("div", "alert-people " + (alert.acknowledged_at ? "acked" : "unacked"), ackText(alert));
    const people = peopleText(alert);
    if (people) status.textContent += " · " + people;
    li.appendChild(status);

    // Someone else may have acknowledged or closed the alert meanwhile: that form has no purpose now.
    if (ui.form && ui.form.id === id && !formAllowed(alert, ui.form.kind)) ui.form = null;
    const open = ui.form && ui.form.id === id ? ui.form.kind : null;
    const buttons = el("div", "alert-actions");
    const button = (label, name, handler, controls) => {
      const b = keyed(el("button", "alert-action", label), id, "button:" + name);
      b.type = "button";
      b.dataset.action = name;
      if (controls !== undefined) {
        b.setAttribute("aria-expanded", controls.open ? "true" : "false");
        if (controls.open) b.setAttribute("aria-controls", controls.target);
      }
      b.addEventListener("click", (event) => {
        event.stopPropagation();
        handler();
      });
      buttons.appendChild(b);
    };
    const formId = "alert-" + id + "-form"; // actionForm's id
    const formButton = (label, kind) =>
      button(label, kind, () => openForm(alert, kind, redraw), { open: open === kind, target: formId });
    if (alert.state !== "resolved") {
      if (!alert.acknowledged_at) formButton("Xác nhận", "ack");
      formButton("Giao", "assign");
      formButton("Tạm hoãn", "snooze");
      formButton("Đóng", "resolve");
    }
    const historyOpen = ui.expanded.has(id);
    button(historyOpen ? "Ẩn lịch sử" : "Lịch sử", "history", () => {
      if (ui.expanded.has(id)) {
        ui.expanded.delete(id);
        delete ui.histories[id]; // opened again later: read afresh (comments do not change the alert)
      } else {
        ui.expanded.add(id);
      }
      requestFocus(id, ["button:history"]);
      redraw(null);
    }, { open: historyOpen, target: "alert-" + id + "-history" });
    li.appendChild(buttons);

    if (open) li.appendChild(actionForm(alert, open, redraw));
    else if (ui.errors[id]) li.appendChild(el("div", "error-line", ui.errors[id]));
    if (historyOpen) li.appendChild(historyList(alert, redraw));

    if (ui.focusNext && ui.focusNext.id === id) {
      restoreFocus(li, ui.focusNext, true);
      ui.focusNext = null;
    } else if (keep) {
      restoreFocus(li, keep, false);
    }
  }

  // Whether a signed-in identity may act on alerts (people; wall screens only watch).
  function canAct(identity) {
    return Boolean(identity) && ["admin", "leader", "operator", "subscriber"].includes(identity.role) &&
      identity.credential !== "display_token";
  }

  window.IocAlertActions = {
    call, api, ackText, peopleText, historyLine, errorText, hhmm, decorate, canAct, MAX_SNOOZE_HOURS,
    snoozeChoices, snoozeUntil, formProblem,
  };
})();
