// "Cài đặt thông báo" on the phone page: the signed-in person's alert subscriptions (places,
// agencies, sectors, severities, channels, quiet hours, on/off), their contact addresses (e-mail,
// Telegram, Zalo) and the language of their messages. A <dialog> the page's button opens.
//
// API (every call sends the session cookie): GET/POST /api/v1/me/subscriptions, PUT/DELETE
// /api/v1/me/subscriptions/{id}, GET /api/v1/me/contacts, PUT/DELETE /api/v1/me/contacts/{channel},
// PUT /api/v1/me/language, GET /api/v1/push/subscriptions (how many devices have Web Push).
// The places offered are those of the dashboard's status endpoints, already narrowed to the
// person's scope: /api/v1/status/provinces and /api/v1/status/provinces/{code}/communes. The
// server checks the scope again (403) and the shapes (422); its answers are shown in words next
// to the field they are about. Tests read window.iocPhoneSettings.
(function () {
  "use strict";

  const ME = "/api/v1/me/";
  const SEVERITIES = [["critical", "Nghiêm trọng"], ["warning", "Cảnh báo"], ["info", "Thông tin"]];
  const CHANNELS = [
    ["email", "E-mail"], ["telegram", "Telegram"], ["zalo", "Zalo"], ["webpush", "Thông báo đẩy (Web Push)"],
  ];
  const LANGUAGES = [["vi", "Tiếng Việt"], ["en", "English"]];
  const CONTACTS = [
    { channel: "email", label: "E-mail", type: "email", inputMode: "email", placeholder: "ten@coquan.gov.vn",
      hint: "Địa chỉ nhận thư cảnh báo.",
      invalid: "E-mail không hợp lệ: cần dạng ten@coquan.gov.vn." },
    { channel: "telegram", label: "Telegram (mã chat)", type: "text", inputMode: "text", placeholder: "123456789",
      hint: "Mã chat là một dãy số (hỏi bot của trung tâm), hoặc @tên_kênh.",
      invalid: "Mã chat Telegram không hợp lệ: một dãy số (có thể có dấu - ở đầu) hoặc @tên_kênh 5–32 ký tự." },
    { channel: "zalo", label: "Zalo (mã người dùng)", type: "text", inputMode: "text",
      placeholder: "mã người dùng Zalo OA",
      hint: "Mã người dùng do Zalo OA của trung tâm cấp.",
      invalid: "Mã người dùng Zalo không hợp lệ: chỉ gồm chữ, số, dấu - và _ (tối đa 64 ký tự)." },
  ];
  // Where each field of the API's body is shown on the form.
  const FIELD_OF = {
    provinces: "places", communes: "places", agencies: "agencies", sectors: "sectors", severities: "severities",
    channels: "channels", quiet_from: "quiet", quiet_to: "quiet", quiet_allows_critical: "quiet", enabled: "enabled",
  };
  const FORM_FIELDS = ["places", "agencies", "sectors", "severities", "channels", "quiet", "enabled"];
  const CODE = /^[A-Za-z0-9._-]{1,64}$/; // the server's rule for a code (ioc/api/subscriptions.py)
  const COMMUNE_FILTER_FROM = 12; // more communes than this: a search box above the list

  // ---- words and shapes (pure) --------------------------------------------------------------

  // "a, b;c  d" -> ["a", "b", "c", "d"] (each once, in order).
  function codeList(text) {
    return [...new Set(String(text || "").split(/[\s,;]+/).filter(Boolean))];
  }

  // "22:00:00" -> "22:00"; null -> "".
  function hhmm(value) {
    return value ? String(value).slice(0, 5) : "";
  }

  // The server's messages are "tiếng Việt / English": the Vietnamese half.
  function vietnameseHalf(message) {
    return String(message || "").split(" / ")[0];
  }

  function labelOf(pairs, key) {
    const found = pairs.find((pair) => pair[0] === key);
    return found ? found[1] : key;
  }

  // One pydantic validation error -> words for a person.
  function validationWords(item) {
    switch (item.type) {
      case "too_short": return "Hãy chọn ít nhất một mục.";
      case "too_long": return "Quá nhiều mục trong một đăng ký.";
      case "string_pattern_mismatch": return "Mã chỉ gồm chữ không dấu, số, dấu chấm, gạch ngang và gạch dưới.";
      case "string_too_long": return "Mã quá dài (tối đa 64 ký tự).";
      case "string_too_short": return "Mã không được để trống.";
      case "literal_error": return "Giá trị này không được chấp nhận.";
      case "time_parsing":
      case "time_type": return "Giờ không hợp lệ: cần dạng HH:MM, ví dụ 22:00.";
      case "missing": return "Thiếu thông tin bắt buộc.";
      default: return vietnameseHalf(item.msg) || "Giá trị không hợp lệ.";
    }
  }

  // Which field a 403 is about: the server only says "outside your scope", the scope says which.
  function outsideScopeField(body, scope) {
    const outside = (values, allowed) => Array.isArray(allowed) && values.some((v) => !allowed.includes(v));
    if (scope && outside(body.agencies, scope.agencies)) return "agencies";
    if (scope && outside(body.sectors, scope.sectors)) return "sectors";
    return "places";
  }

  // An API answer that is not ok -> { field: words } ("form" when no field fits).
  function fieldErrors(result, body, scope) {
    const detail = result.body ? result.body.detail : null;
    switch (result.status) {
      case 0: return { form: "Không kết nối được máy chủ. Hãy thử lại." };
      case 401: return { form: "Phiên đăng nhập đã hết, hãy đăng nhập lại." };
      case 403: {
        const why = typeof detail === "string" ? vietnameseHalf(detail) : "bộ lọc ngoài phạm vi được giao";
        const words = "Không được phép: " + why + ". Chỉ chọn địa bàn, cơ quan, lĩnh vực trong phạm vi của bạn.";
        return { [outsideScopeField(body, scope)]: words };
      }
      case 404: return { form: "Đăng ký này không còn nữa (có thể đã bị xoá ở nơi khác)." };
      case 422: {
        const errors = {};
        for (const item of Array.isArray(detail) ? detail : [{ loc: ["body"], msg: String(detail || "") }]) {
          const loc = item.loc || [];
          let field = FIELD_OF[loc[1]] || "form";
          // The route's own checks come back as loc ["body"]: quiet_from/quiet_to go together.
          if (field === "form" && /quiet_/.test(item.msg || "")) field = "quiet";
          const words = loc.length > 1 ? validationWords(item) : vietnameseHalf(item.msg) || "Dữ liệu không hợp lệ.";
          errors[field] = errors[field] ? errors[field] + " " + words : words;
        }
        return errors;
      }
      default: return { form: "Lỗi máy chủ (HTTP " + result.status + "). Hãy thử lại sau." };
    }
  }

  // An API answer that is not ok, for a call outside the subscription form (contacts, language, delete).
  function plainError(result) {
    const detail = result.body ? result.body.detail : null;
    if (result.status === 403) {
      return "Không được phép" + (typeof detail === "string" ? ": " + vietnameseHalf(detail) : "") + ".";
    }
    return Object.values(fieldErrors(result, {}, null))[0];
  }

  // What the form holds -> the checks the server would refuse anyway, said before sending.
  function draftErrors(draft) {
    const errors = {};
    const badCodes = (codes) => codes.filter((c) => !CODE.test(c));
    for (const field of ["agencies", "sectors"]) {
      const bad = badCodes(draft[field]);
      if (bad.length) errors[field] = "Mã không hợp lệ: " + bad.join(", ") + ". Mã chỉ gồm chữ không dấu, số, . - _";
    }
    if (draft.severities.length === 0) errors.severities = "Hãy chọn ít nhất một mức độ.";
    if (draft.channels.length === 0) errors.channels = "Hãy chọn ít nhất một kênh nhận.";
    if (draft.quiet && (!draft.quietFrom || !draft.quietTo)) {
      errors.quiet = "Hãy nhập cả giờ bắt đầu và giờ kết thúc của giờ yên lặng.";
    } else if (draft.quiet && draft.quietFrom === draft.quietTo) {
      errors.quiet = "Giờ bắt đầu và giờ kết thúc phải khác nhau.";
    }
    return errors;
  }

  // The form's draft -> the API's body.
  function bodyOf(draft) {
    return {
      provinces: draft.provinces, communes: draft.communes, agencies: draft.agencies, sectors: draft.sectors,
      severities: draft.severities, channels: draft.channels,
      quiet_from: draft.quiet ? draft.quietFrom : null, quiet_to: draft.quiet ? draft.quietTo : null,
      quiet_allows_critical: draft.quietCritical, enabled: draft.enabled,
    };
  }

  // A subscription from the API (or null for a new one) -> the form's starting draft.
  function draftOf(sub) {
    if (!sub) {
      return { id: null, provinces: [], communes: [], agencies: [], sectors: [], severities: ["critical", "warning"],
        channels: [], quiet: false, quietFrom: "22:00", quietTo: "06:00", quietCritical: true, enabled: true };
    }
    return {
      id: sub.id, provinces: [...sub.provinces], communes: [...sub.communes], agencies: [...sub.agencies],
      sectors: [...sub.sectors], severities: [...sub.severities], channels: [...sub.channels],
      quiet: Boolean(sub.quiet_from && sub.quiet_to), quietFrom: hhmm(sub.quiet_from) || "22:00",
      quietTo: hhmm(sub.quiet_to) || "06:00", quietCritical: sub.quiet_allows_critical, enabled: sub.enabled,
    };
  }

  // names: { provinces: {code: name}, communes: {code: name} }
  function placesText(sub, names) {
    const places = [
      ...sub.provinces.map((p) => "cả " + (names.provinces[p] || "tỉnh/thành " + p)),
      ...sub.communes.map((c) => names.communes[c] || "xã/phường " + c),
    ];
    return places.length ? places.join(", ") : "mọi nơi trong phạm vi của bạn";
  }

  // A subscription in a few lines of words.
  function summaryLines(sub, names) {
    const lines = ["Địa bàn: " + placesText(sub, names)];
    if (sub.agencies.length) lines.push("Cơ quan: " + sub.agencies.join(", "));
    if (sub.sectors.length) lines.push("Lĩnh vực: " + sub.sectors.join(", "));
    const severities = SEVERITIES.filter(([key]) => sub.severities.includes(key)).map(([, label]) => label);
    lines.push("Mức độ: " + (severities.length ? severities.join(", ") : "mọi mức độ"));
    lines.push("Kênh: " + sub.channels.map((c) => labelOf(CHANNELS, c)).join(", "));
    if (sub.quiet_from && sub.quiet_to) {
      lines.push("Giờ yên lặng: " + hhmm(sub.quiet_from) + "–" + hhmm(sub.quiet_to) +
        (sub.quiet_allows_critical ? " (vẫn nhận cảnh báo nghiêm trọng)" : " (giữ lại mọi thông báo)"));
    } else {
      lines.push("Không có giờ yên lặng");
    }
    return lines;
  }

  const pure = {
    codeList, hhmm, vietnameseHalf, validationWords, outsideScopeField, fieldErrors, plainError, draftErrors,
    bodyOf, draftOf, placesText, summaryLines,
  };

  // ---- state --------------------------------------------------------------------------------

  const state = {
    me: null,
    loaded: false,
    failure: "", // why the panel could not load (in words), else ""
    subscriptions: [],
    contacts: {}, // channel -> address
    language: "vi",
    pushDevices: null, // how many browsers/phones have Web Push on, null when unknown
    provinces: [], // [{code, name}] in scope
    communes: {}, // province code -> [{code, name}] | "loading" | "error"
    names: { provinces: {}, communes: {} },
    draft: null, // the subscription being added or edited (provinces/communes kept up to date)
    expanded: new Set(), // provinces whose communes are shown
    confirmDelete: null, // id whose delete waits for a second tap
    busy: false,
  };
  const settings = { ready: false, state: state, pure: pure };
  window.iocPhoneSettings = settings;

  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(text, action, className) {
    const b = el("button", className || "", text);
    b.type = "button";
    if (action) b.dataset.action = action;
    return b;
  }

  // A labelled checkbox: <label><input type=checkbox> text</label>.
  function checkbox(id, name, value, text, checked) {
    const label = el("label", "check");
    label.htmlFor = id;
    const input = el("input");
    input.type = "checkbox";
    input.id = id;
    input.name = name;
    input.value = value;
    input.checked = Boolean(checked);
    label.append(input, document.createTextNode(" " + text));
    return label;
  }

  function say(text) {
    $("settings-status").textContent = text;
  }

  // ---- API ----------------------------------------------------------------------------------

  // The shared request helper (alert_actions.js); an expired session goes back to sign-in.
  async function call(method, url, body) {
    const result = await window.IocAlertActions.call(method, url, body);
    if (result.status === 401 && window.IocSession) window.IocSession.goToSignIn(state.me);
    return result;
  }

  async function whoAmI() {
    if (window.IocSession) {
      const who = await window.IocSession.whoAmI();
      return who.status === "ok" ? who.me : null;
    }
    const result = await call("GET", "/api/v1/auth/me");
    return result.ok ? result.body : null;
  }

  async function load() {
    say("Đang tải…");
    state.me = await whoAmI();
    const [subs, contacts, provinces, push] = await Promise.all([
      call("GET", ME + "subscriptions"), call("GET", ME + "contacts"),
      call("GET", "/api/v1/status/provinces?window=today"), call("GET", "/api/v1/push/subscriptions"),
    ]);
    if (!subs.ok || !contacts.ok) {
      state.failure = subs.status === 403 || contacts.status === 403
        ? "Tài khoản này không có cài đặt thông báo riêng (chỉ dành cho người dùng đăng nhập bằng tài khoản cá nhân)."
        : "Không tải được cài đặt (HTTP " + (subs.ok ? contacts.status : subs.status) + "). Hãy thử lại.";
      say(state.failure);
      render();
      return;
    }
    state.failure = "";
    state.subscriptions = subs.body.subscriptions;
    state.contacts = contacts.body.contacts;
    state.language = contacts.body.language;
    state.pushDevices = push.ok ? push.body.subscriptions.filter((s) => !s.gone_at).length : null;
    state.provinces = provinces.ok ? provinces.body.provinces.map((p) => ({ code: p.code, name: p.name })) : [];
    for (const p of state.provinces) state.names.provinces[p.code] = p.name;
    // With few provinces, their communes are cheap to know: names in the list, shown in the form.
    const few = state.provinces.length <= 3;
    if (few) await Promise.all(state.provinces.map((p) => loadCommunes(p.code)));
    if (state.provinces.length === 1) state.expanded.add(state.provinces[0].code);
    state.loaded = true;
    say("");
    render();
    settings.ready = true;
  }

  async function loadCommunes(province) {
    if (Array.isArray(state.communes[province]) || state.communes[province] === "loading") return;
    state.communes[province] = "loading";
    const result = await call("GET", "/api/v1/status/provinces/" + encodeURIComponent(province) +
      "/communes?window=today");
    if (!result.ok) {
      state.communes[province] = "error";
      return;
    }
    state.communes[province] = result.body.communes.map((c) => ({ code: c.code, name: c.name }));
    for (const c of state.communes[province]) state.names.communes[c.code] = c.name;
  }

  // ---- contacts and language ----------------------------------------------------------------

  function contactRow(spec) {
    const id = "contact-" + spec.channel;
    const row = el("div", "contact-row");
    const label = el("label", "field-label", spec.label);
    label.htmlFor = id;
    const input = el("input");
    input.id = id;
    input.type = spec.type;
    input.inputMode = spec.inputMode;
    input.autocomplete = spec.channel === "email" ? "email" : "off";
    input.maxLength = 320;
    input.placeholder = spec.placeholder;
    input.value = state.contacts[spec.channel] || "";
    const hint = el("div", "hint", spec.hint);
    hint.id = id + "-hint";
    const note = el("div", "field-note");
    note.id = id + "-note";
    note.setAttribute("aria-live", "polite");
    input.setAttribute("aria-describedby", hint.id + " " + note.id);
    const save = button("Lưu", "save-contact");
    save.dataset.channel = spec.channel;
    save.setAttribute("aria-label", "Lưu " + spec.label);
    save.addEventListener("click", () => saveContact(spec, input, note));
    const actions = el("div", "contact-actions");
    actions.append(input, save);
    if (state.contacts[spec.channel]) {
      const remove = button("Xoá", "delete-contact", "ghost");
      remove.dataset.channel = spec.channel;
      remove.setAttribute("aria-label", "Xoá " + spec.label);
      remove.addEventListener("click", () => deleteContact(spec, note));
      actions.appendChild(remove);
    }
    row.append(label, actions, hint, note);
    return row;
  }

  function showNote(note, input, text, isError) {
    note.textContent = text;
    note.classList.toggle("error", Boolean(isError));
    if (input) input.setAttribute("aria-invalid", isError ? "true" : "false");
  }

  async function saveContact(spec, input, note) {
    const address = input.value.trim();
    if (!address) {
      showNote(note, input, "Hãy nhập địa chỉ trước khi lưu (hoặc bấm Xoá để bỏ).", true);
      input.focus();
      return;
    }
    const result = await call("PUT", ME + "contacts/" + spec.channel, { address: address });
    if (!result.ok) {
      const words = result.status === 422 ? spec.invalid : plainError(result);
      showNote(note, input, words, true);
      input.focus();
      return;
    }
    state.contacts[spec.channel] = result.body.address;
    renderContacts();
    const fresh = $("contact-" + spec.channel + "-note");
    showNote(fresh, $("contact-" + spec.channel), "Đã lưu.", false);
  }

  async function deleteContact(spec, note) {
    const result = await call("DELETE", ME + "contacts/" + spec.channel);
    if (!result.ok) {
      showNote(note, null, plainError(result), true);
      return;
    }
    delete state.contacts[spec.channel];
    renderContacts();
    showNote($("contact-" + spec.channel + "-note"), null, "Đã xoá.", false);
  }

  function renderContacts() {
    const box = $("settings-contacts");
    const rows = CONTACTS.map(contactRow);
    const push = el("div", "contact-row");
    push.appendChild(el("div", "field-label", "Thông báo đẩy (Web Push)"));
    const devices = state.pushDevices;
    push.appendChild(el("div", "hint", devices === null ? "Không rõ thiết bị nào đã bật."
      : devices > 0 ? "Đã bật trên " + devices + " thiết bị."
        : "Chưa bật trên thiết bị nào: dùng nút “Bật thông báo” trên trang."));
    box.replaceChildren(...rows, push);
  }

  function renderLanguage() {
    const select = $("settings-language");
    select.value = state.language;
  }

  async function saveLanguage() {
    const select = $("settings-language");
    const note = $("settings-language-note");
    const result = await call("PUT", ME + "language", { language: select.value });
    if (!result.ok) {
      showNote(note, select, plainError(result), true);
      select.value = state.language;
      return;
    }
    state.language = result.body.language;
    showNote(note, select, "Đã lưu: thông báo sẽ gửi bằng " + labelOf(LANGUAGES, state.language) + ".", false);
  }

  // ---- the list of subscriptions ------------------------------------------------------------

  function subscriptionItem(sub) {
    const li = el("li", "subscription" + (sub.enabled ? "" : " disabled"));
    li.id = "subscription-" + sub.id;
    li.dataset.subscriptionId = String(sub.id);
    const head = el("div", "subscription-head");
    head.appendChild(el("span", "badge " + (sub.enabled ? "on" : "off"), sub.enabled ? "Đang bật" : "Đang tắt"));
    li.appendChild(head);
    const lines = el("ul", "subscription-lines");
    for (const line of summaryLines(sub, state.names)) lines.appendChild(el("li", "", line));
    li.appendChild(lines);
    const actions = el("div", "subscription-actions");
    if (state.confirmDelete === sub.id) {
      actions.appendChild(el("span", "confirm-text", "Xoá đăng ký này?"));
      const yes = button("Xoá", "confirm-delete", "danger");
      yes.addEventListener("click", () => removeSubscription(sub.id));
      const no = button("Không", "cancel-delete", "ghost");
      no.addEventListener("click", () => { state.confirmDelete = null; renderList(); });
      actions.append(yes, no);
    } else {
      const edit = button("Sửa", "edit", "ghost");
      edit.setAttribute("aria-label", "Sửa đăng ký số " + sub.id);
      edit.addEventListener("click", () => openForm(sub));
      const remove = button("Xoá", "delete", "ghost");
      remove.setAttribute("aria-label", "Xoá đăng ký số " + sub.id);
      remove.addEventListener("click", () => {
        state.confirmDelete = sub.id;
        renderList();
        $("subscription-" + sub.id).querySelector('[data-action="confirm-delete"]').focus();
      });
      actions.append(edit, remove);
    }
    li.appendChild(actions);
    return li;
  }

  function renderList() {
    const list = $("settings-subscriptions");
    const items = state.subscriptions.map(subscriptionItem);
    if (items.length === 0) items.push(el("li", "empty", "Chưa có đăng ký nào: bạn chỉ thấy cảnh báo trên trang này."));
    list.replaceChildren(...items);
    $("settings-add").hidden = Boolean(state.draft);
  }

  async function removeSubscription(id) {
    const result = await call("DELETE", ME + "subscriptions/" + id);
    state.confirmDelete = null;
    if (!result.ok && result.status !== 404) {
      say("Không xoá được: " + plainError(result));
      renderList();
      return;
    }
    state.subscriptions = state.subscriptions.filter((s) => s.id !== id);
    if (state.draft && state.draft.id === id) closeForm();
    say("Đã xoá đăng ký.");
    renderList();
  }

  // ---- the form -----------------------------------------------------------------------------

  function fieldset(field, legend, hint) {
    const set = el("fieldset", "field field-" + field);
    set.id = "sub-" + field;
    set.appendChild(el("legend", "", legend));
    const described = [];
    if (hint) {
      const h = el("div", "hint", hint);
      h.id = "sub-" + field + "-hint";
      set.appendChild(h);
      described.push(h.id);
    }
    described.push("sub-" + field + "-error");
    set.setAttribute("aria-describedby", described.join(" "));
    return set;
  }

  function errorLine(field) {
    const line = el("div", "field-error");
    line.id = "sub-" + field + "-error";
    line.setAttribute("aria-live", "polite");
    return line;
  }

  function inScopeWhole(province) {
    const scope = state.me && state.me.scope;
    return !scope || scope.national || (scope.provinces || []).includes(province);
  }

  function communeBox(province) {
    const box = el("div", "communes");
    box.id = "sub-communes-" + province;
    const known = state.communes[province];
    if (known === "loading" || known === undefined) {
      box.appendChild(el("div", "hint", "Đang tải danh sách xã/phường…"));
      return box;
    }
    if (known === "error") {
      box.appendChild(el("div", "field-error", "Không tải được danh sách xã/phường."));
      return box;
    }
    const rows = known.map((c) => checkbox("sub-commune-" + c.code, "sub-commune", c.code, c.name,
      state.draft.communes.includes(c.code)));
    if (known.length > COMMUNE_FILTER_FROM) {
      const search = el("input");
      search.type = "search";
      search.className = "commune-filter";
      search.placeholder = "Tìm xã/phường";
      search.setAttribute("aria-label", "Tìm xã/phường trong " + (state.names.provinces[province] || province));
      search.addEventListener("input", () => {
        const needle = search.value.trim().toLocaleLowerCase("vi");
        for (const row of rows) {
          row.hidden = Boolean(needle) && !row.textContent.toLocaleLowerCase("vi").includes(needle);
        }
      });
      box.appendChild(search);
    }
    if (known.length === 0) box.appendChild(el("div", "hint", "Không có xã/phường nào trong phạm vi của bạn."));
    box.append(...rows);
    return box;
  }

  function provinceRow(p) {
    const row = el("div", "province-row");
    const whole = inScopeWhole(p.code) ? "Cả " + p.name : "Cả " + p.name + " (phần trong phạm vi của bạn)";
    const head = el("div", "province-head");
    head.appendChild(checkbox("sub-province-" + p.code, "sub-province", p.code, whole,
      state.draft.provinces.includes(p.code)));
    const open = state.expanded.has(p.code);
    const toggle = button(open ? "Ẩn xã/phường" : "Chọn xã/phường", "toggle-communes", "ghost small");
    toggle.setAttribute("aria-expanded", String(open));
    toggle.setAttribute("aria-controls", "sub-communes-" + p.code);
    toggle.addEventListener("click", () => toggleProvince(p.code));
    head.appendChild(toggle);
    row.appendChild(head);
    if (open) row.appendChild(communeBox(p.code));
    return row;
  }

  // Chosen places that the lists do not show (outside the scope now, or in a province not opened):
  // kept visible, so a person sees them and can untick them.
  function otherPlaces() {
    const shownProvinces = new Set(state.provinces.map((p) => p.code));
    const shownCommunes = new Set();
    for (const code of state.expanded) {
      if (Array.isArray(state.communes[code])) for (const c of state.communes[code]) shownCommunes.add(c.code);
    }
    const rows = [];
    for (const code of state.draft.provinces.filter((c) => !shownProvinces.has(c))) {
      rows.push(checkbox("sub-province-" + code, "sub-province", code,
        "Cả tỉnh/thành " + code + " (ngoài phạm vi của bạn)", true));
    }
    for (const code of state.draft.communes.filter((c) => !shownCommunes.has(c))) {
      const name = state.names.communes[code];
      rows.push(checkbox("sub-commune-" + code, "sub-commune", code, name || "Xã/phường " + code, true));
    }
    const box = el("div", "other-places");
    box.id = "sub-other-places";
    if (rows.length) box.append(el("div", "hint", "Đã chọn khác:"), ...rows);
    return box;
  }

  function placesField() {
    const set = fieldset("places", "Địa bàn",
      "Để trống = mọi nơi trong phạm vi của bạn. Chọn cả tỉnh/thành, hoặc từng xã/phường.");
    const list = el("div", "province-list");
    list.id = "sub-province-list";
    list.append(...state.provinces.map(provinceRow));
    if (state.provinces.length === 0) list.appendChild(el("div", "hint", "Không tải được danh sách địa bàn."));
    set.append(list, otherPlaces(), errorLine("places"));
    // Ticks update the draft at once, so re-drawing a commune list keeps them.
    set.addEventListener("change", (event) => {
      const input = event.target;
      if (input.name !== "sub-province" && input.name !== "sub-commune") return;
      const key = input.name === "sub-province" ? "provinces" : "communes";
      const values = new Set(state.draft[key]);
      if (input.checked) values.add(input.value);
      else values.delete(input.value);
      state.draft[key] = [...values];
    });
    return set;
  }

  async function toggleProvince(code) {
    if (state.expanded.has(code)) state.expanded.delete(code);
    else state.expanded.add(code);
    redrawPlaces(code);
    if (state.expanded.has(code) && !Array.isArray(state.communes[code])) {
      await loadCommunes(code);
      redrawPlaces(code);
    }
  }

  function redrawPlaces(focusProvince) {
    const list = $("sub-province-list");
    if (!list || !state.draft) return;
    list.replaceChildren(...state.provinces.map(provinceRow));
    $("sub-other-places").replaceWith(otherPlaces());
    const toggle = list.querySelector('[aria-controls="sub-communes-' + focusProvince + '"]');
    if (toggle) toggle.focus();
  }

  // A list of codes typed as text (no endpoint lists agencies or sectors); a restricted scope's
  // own codes are named in the hint.
  function codesField(field, label, hint, values, allowed) {
    const box = el("div", "field field-" + field);
    box.id = "sub-" + field;
    const input = el("input");
    input.type = "text";
    input.id = "sub-" + field + "-input";
    input.maxLength = 2000;
    input.autocomplete = "off";
    input.value = values.join(", ");
    const caption = el("label", "field-label", label);
    caption.htmlFor = input.id;
    const ownCodes = Array.isArray(allowed) ? " Trong phạm vi của bạn: " + allowed.join(", ") + "." : "";
    const h = el("div", "hint", hint + ownCodes);
    h.id = "sub-" + field + "-hint";
    input.setAttribute("aria-describedby", h.id + " sub-" + field + "-error");
    box.append(caption, input, h, errorLine(field));
    return box;
  }

  // One checkbox per choice, ids "<idPrefix>-<key>" (sub-severity-critical, sub-channel-email).
  function choicesField(field, idPrefix, legend, hint, pairs, chosen, note) {
    const set = fieldset(field, legend, hint);
    const box = el("div", "choices");
    for (const [key, label] of pairs) {
      box.appendChild(checkbox(idPrefix + "-" + key, "sub-" + field, key, label + (note ? note(key) : ""),
        chosen.includes(key)));
    }
    set.append(box, errorLine(field));
    return set;
  }

  function channelNote(channel) {
    if (channel === "webpush") return state.pushDevices === 0 ? " — chưa bật trên thiết bị nào" : "";
    return state.contacts[channel] ? "" : " — chưa có địa chỉ";
  }

  function timeInput(id, label, value) {
    const wrap = el("label", "time-field");
    wrap.htmlFor = id;
    wrap.appendChild(document.createTextNode(label + " "));
    const input = el("input");
    input.type = "time";
    input.id = id;
    input.value = value;
    wrap.appendChild(input);
    return wrap;
  }

  function quietField(draft) {
    const set = fieldset("quiet", "Giờ yên lặng",
      "Trong khoảng này thông báo được giữ lại và gửi khi hết giờ (giờ Việt Nam; có thể qua nửa đêm).");
    const on = checkbox("sub-quiet-on", "sub-quiet-on", "on", "Bật giờ yên lặng", draft.quiet);
    const times = el("div", "quiet-times");
    times.id = "sub-quiet-times";
    times.append(timeInput("sub-quiet-from", "Từ", draft.quietFrom), timeInput("sub-quiet-to", "đến", draft.quietTo));
    const critical = checkbox("sub-quiet-critical", "sub-quiet-critical", "on",
      "Vẫn nhận cảnh báo nghiêm trọng", draft.quietCritical);
    const extra = el("div", "quiet-extra");
    extra.append(times, critical);
    extra.hidden = !draft.quiet;
    on.querySelector("input").addEventListener("change", (event) => { extra.hidden = !event.target.checked; });
    set.append(on, extra, errorLine("quiet"));
    return set;
  }

  function openForm(sub) {
    state.draft = draftOf(sub || null);
    state.confirmDelete = null;
    // Provinces of chosen communes open, so the ticks are in sight.
    for (const p of state.provinces) {
      const communes = Array.isArray(state.communes[p.code]) ? state.communes[p.code] : [];
      if (communes.some((c) => state.draft.communes.includes(c.code))) state.expanded.add(p.code);
    }
    renderForm();
    renderList();
    const title = $("sub-form-title");
    if (title) {
      title.scrollIntoView({ block: "start" });
      title.focus();
    }
  }

  function closeForm() {
    state.draft = null;
    renderForm();
    renderList();
    $("settings-add").focus(); // the form (and the focused button in it) is gone
  }

  function renderForm() {
    const box = $("settings-form-box");
    if (!state.draft) {
      box.replaceChildren();
      return;
    }
    const draft = state.draft;
    const scope = (state.me && state.me.scope) || {};
    const form = el("form", "subscription-form");
    form.id = "sub-form";
    form.noValidate = true;
    const title = el("h3", "", draft.id ? "Sửa đăng ký" : "Thêm đăng ký");
    title.id = "sub-form-title";
    title.tabIndex = -1;
    form.setAttribute("aria-labelledby", title.id);
    form.append(
      title,
      placesField(),
      codesField("agencies", "Cơ quan (mã, cách nhau bởi dấu phẩy)", "Để trống = mọi cơ quan.", draft.agencies,
        scope.agencies),
      codesField("sectors", "Lĩnh vực (mã, cách nhau bởi dấu phẩy)", "Để trống = mọi lĩnh vực.", draft.sectors,
        scope.sectors),
      choicesField("severities", "sub-severity", "Mức độ", "", SEVERITIES, draft.severities),
      choicesField("channels", "sub-channel", "Kênh nhận",
        "Địa chỉ của từng kênh nhập ở mục “Địa chỉ nhận” phía trên.", CHANNELS,
        draft.channels, channelNote),
      quietField(draft),
    );
    const enabled = fieldset("enabled", "Trạng thái", "");
    enabled.append(checkbox("sub-enabled-on", "sub-enabled", "on", "Đang bật (bỏ chọn để tạm dừng)", draft.enabled),
      errorLine("enabled"));
    form.appendChild(enabled);
    const formError = el("div", "field-error form-error");
    formError.id = "sub-form-error";
    formError.setAttribute("role", "alert");
    const actions = el("div", "form-actions");
    const save = el("button", "", "Lưu đăng ký");
    save.type = "submit";
    save.id = "sub-save";
    const cancel = button("Huỷ", "cancel", "ghost");
    cancel.id = "sub-cancel";
    cancel.addEventListener("click", closeForm);
    actions.append(save, cancel);
    form.append(formError, actions);
    // A field the person changes loses its old error (the next save checks it again).
    const clearError = (event) => {
      const field = event.target.closest(".field");
      if (!field || !field.classList.contains("invalid")) return;
      field.classList.remove("invalid");
      $(field.id + "-error").textContent = "";
      for (const input of field.querySelectorAll("input")) input.setAttribute("aria-invalid", "false");
    };
    form.addEventListener("change", clearError);
    form.addEventListener("input", clearError);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      saveForm();
    });
    box.replaceChildren(form);
  }

  function checkedValues(name) {
    return [...document.querySelectorAll('input[name="' + name + '"]:checked')].map((i) => i.value);
  }

  // The form as it is now -> a draft (places come from state.draft, kept up to date on each tick).
  function collect() {
    return {
      id: state.draft.id,
      provinces: [...state.draft.provinces],
      communes: [...state.draft.communes],
      agencies: codeList($("sub-agencies-input").value),
      sectors: codeList($("sub-sectors-input").value),
      severities: checkedValues("sub-severities"),
      channels: checkedValues("sub-channels"),
      quiet: $("sub-quiet-on").checked,
      quietFrom: $("sub-quiet-from").value,
      quietTo: $("sub-quiet-to").value,
      quietCritical: $("sub-quiet-critical").checked,
      enabled: $("sub-enabled-on").checked,
    };
  }

  // Words next to each field (and a line above the buttons); the first field in error gets focus.
  function showErrors(errors) {
    let first = null;
    for (const field of FORM_FIELDS) {
      const text = errors[field] || "";
      const line = $("sub-" + field + "-error");
      if (line) line.textContent = text;
      const set = $("sub-" + field);
      if (set) {
        set.classList.toggle("invalid", Boolean(text));
        for (const input of set.querySelectorAll("input")) input.setAttribute("aria-invalid", text ? "true" : "false");
        if (text && !first) first = set;
      }
    }
    const others = Object.keys(errors).filter((k) => !FORM_FIELDS.includes(k));
    const summary = others.map((k) => errors[k]);
    if (!summary.length && first) summary.push("Chưa lưu được: xem thông báo lỗi ở từng mục.");
    $("sub-form-error").textContent = summary.join(" ");
    if (first) {
      first.scrollIntoView({ block: "center" });
      const target = first.querySelector("input");
      if (target) target.focus();
    }
  }

  async function saveForm() {
    if (state.busy) return;
    const draft = collect();
    const local = draftErrors(draft);
    showErrors(local);
    if (Object.keys(local).length) return;
    const body = bodyOf(draft);
    state.busy = true;
    $("sub-save").disabled = true;
    const result = draft.id
      ? await call("PUT", ME + "subscriptions/" + draft.id, body)
      : await call("POST", ME + "subscriptions", body);
    state.busy = false;
    if (!result.ok) {
      $("sub-save").disabled = false;
      // The form stays as the person left it; only the errors are added.
      showErrors(fieldErrors(result, body, state.me && state.me.scope));
      return;
    }
    const saved = result.body;
    const at = state.subscriptions.findIndex((s) => s.id === saved.id);
    if (at >= 0) state.subscriptions[at] = saved;
    else state.subscriptions.push(saved);
    say(draft.id ? "Đã lưu thay đổi." : "Đã thêm đăng ký.");
    closeForm();
    const item = $("subscription-" + saved.id);
    if (item) item.scrollIntoView({ block: "center" });
  }

  // ---- the panel ----------------------------------------------------------------------------

  function section(id, title, hint) {
    const s = el("section", "settings-section");
    const h = el("h3", "", title);
    h.id = id + "-title";
    s.setAttribute("aria-labelledby", h.id);
    s.appendChild(h);
    if (hint) s.appendChild(el("div", "hint", hint));
    return s;
  }

  function build(dialog) {
    const header = el("header", "settings-bar");
    const title = el("h2", "", "Cài đặt thông báo ");
    title.id = "settings-title";
    title.appendChild(el("span", "en", "Notification settings"));
    const close = button("Đóng", "close-settings", "ghost");
    close.id = "settings-close";
    close.addEventListener("click", () => dialog.close());
    header.append(title, close);
    const status = el("div", "note settings-status");
    status.id = "settings-status";
    status.setAttribute("role", "status");

    const contacts = section("settings-contacts-section", "Địa chỉ nhận",
      "Nơi gửi cảnh báo cho từng kênh. Chỉ bạn thấy các địa chỉ này.");
    const contactBox = el("div", "contacts");
    contactBox.id = "settings-contacts";
    contacts.appendChild(contactBox);

    const language = section("settings-language-section", "Ngôn ngữ của thông báo", "");
    const select = el("select");
    select.id = "settings-language";
    select.setAttribute("aria-labelledby", "settings-language-section-title");
    for (const [code, label] of LANGUAGES) {
      const option = el("option", "", label);
      option.value = code;
      select.appendChild(option);
    }
    select.addEventListener("change", saveLanguage);
    const languageNote = el("div", "field-note");
    languageNote.id = "settings-language-note";
    languageNote.setAttribute("aria-live", "polite");
    select.setAttribute("aria-describedby", languageNote.id);
    language.append(select, languageNote);

    const subs = section("settings-subscriptions-section", "Đăng ký nhận cảnh báo",
      "Mỗi đăng ký chọn địa bàn, mức độ, kênh và giờ yên lặng; cảnh báo khớp bất kỳ đăng ký nào sẽ được gửi.");
    const list = el("ul", "subscription-list");
    list.id = "settings-subscriptions";
    const add = button("Thêm đăng ký", "add-subscription");
    add.id = "settings-add";
    add.addEventListener("click", () => openForm(null));
    const formBox = el("div", "form-box");
    formBox.id = "settings-form-box";
    subs.append(list, add, formBox);

    const body = el("div", "settings-body");
    body.id = "settings-body";
    body.append(contacts, language, subs);
    dialog.replaceChildren(header, status, body);
  }

  function render() {
    $("settings-body").hidden = !state.loaded;
    if (!state.loaded) return;
    renderContacts();
    renderLanguage();
    renderList();
    renderForm();
  }

  function start() {
    const opener = $("open-settings");
    const dialog = $("settings-panel");
    if (!opener || !dialog || typeof dialog.showModal !== "function") return;
    build(dialog);
    render();
    opener.addEventListener("click", () => {
      dialog.showModal();
      opener.setAttribute("aria-expanded", "true");
      if (!state.loaded) load();
    });
    dialog.addEventListener("close", () => {
      opener.setAttribute("aria-expanded", "false");
      opener.focus();
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
