// Who is signed in, where to send someone who is not, and how to describe a scope in words.
// Shared by the dashboard and the two sign-in pages; the pure helpers touch no DOM or network.
(function () {
  "use strict";

  const ME_URL = "/api/v1/auth/me";
  const LOGOUT_URL = "/api/v1/auth/logout";
  const LOGIN_PAGE = "/login";
  const DISPLAY_PAGE = "/display";
  // Not a credential: only which sign-in page this browser last used, so a wall screen whose
  // display token was revoked lands on the page where a new token can be pasted.
  const SIGN_IN_PAGE_KEY = "ioc.signInPage";

  const ROLE_LABELS = {
    admin: "Quản trị viên",
    leader: "Lãnh đạo",
    operator: "Cán bộ điều hành",
    subscriber: "Người theo dõi",
    display: "Màn hình trình chiếu",
  };

  // ---- pure ---------------------------------------------------------------------------------

  // The page to go to after signing in: a path on this site only, never another site. "//host",
  // "/\host" and tabs or newlines (which URL parsing drops) could all turn a path into a host.
  function safeNext(raw, origin) {
    if (typeof raw !== "string" || !raw.startsWith("/") || /^\/[/\\]/.test(raw) || /[\s\\]/.test(raw)) {
      return "/";
    }
    let url;
    try {
      url = new URL(raw, origin);
    } catch (err) {
      return "/";
    }
    if (url.origin !== origin) return "/";
    // Back to a sign-in page would only ask again.
    if (url.pathname === LOGIN_PAGE || url.pathname === DISPLAY_PAGE) return "/";
    return url.pathname + url.search + url.hash;
  }

  // "/login?next=/" (slashes kept readable; everything else encoded).
  function loginUrl(next) {
    return LOGIN_PAGE + "?next=" + encodeURIComponent(next || "/").replace(/%2F/gi, "/");
  }

  function roleLabel(role) {
    return ROLE_LABELS[role] || role;
  }

  function isDisplay(me) {
    return me.credential === "display_token" || me.role === "display";
  }

  // names: { provinces: {code: name}, communes: {code: name} }; unknown codes show as codes.
  // -> "Toàn quốc" | "Thành phố Hà Nội, Tỉnh Khánh Hòa" | "Hà Nội; Phường Ba Đình" (+ narrowing)
  function scopeWords(scope, names) {
    if (!scope) return "";
    const provinceNames = (names && names.provinces) || {};
    const communeNames = (names && names.communes) || {};
    const parts = [];
    if (scope.national) {
      parts.push("Toàn quốc");
    } else {
      const places = [];
      for (const code of scope.provinces || []) places.push(provinceNames[code] || "Tỉnh/thành " + code);
      for (const code of scope.communes || []) places.push(communeNames[code] || "Xã/phường " + code);
      parts.push(places.join(", "));
    }
    if (scope.agencies) parts.push("cơ quan: " + scope.agencies.join(", "));
    if (scope.sectors) parts.push("lĩnh vực: " + scope.sectors.join(", "));
    return parts.join(" · ");
  }

  // ---- browser ------------------------------------------------------------------------------

  // -> { status: "ok", me } | { status: "signed-out" } | { status: "error", message }
  async function whoAmI() {
    let response;
    try {
      response = await fetch(ME_URL, { credentials: "same-origin", cache: "no-store" });
    } catch (err) {
      return { status: "error", message: "không kết nối được máy chủ" };
    }
    if (response.status === 401) return { status: "signed-out" };
    if (!response.ok) return { status: "error", message: "HTTP " + response.status };
    return { status: "ok", me: await response.json() };
  }

  function rememberSignInPage(page) {
    try {
      if (page === DISPLAY_PAGE) window.localStorage.setItem(SIGN_IN_PAGE_KEY, DISPLAY_PAGE);
      else window.localStorage.removeItem(SIGN_IN_PAGE_KEY);
    } catch (err) {
      // Storage may be off (private mode, policy): the login page links to /display anyway.
    }
  }

  function rememberedSignInPage() {
    try {
      return window.localStorage.getItem(SIGN_IN_PAGE_KEY) === DISPLAY_PAGE ? DISPLAY_PAGE : LOGIN_PAGE;
    } catch (err) {
      return LOGIN_PAGE;
    }
  }

  // Where to sign in again: a wall screen to /display, a person to /login (then back here).
  function signInUrl(me) {
    const display = me ? isDisplay(me) : rememberedSignInPage() === DISPLAY_PAGE;
    if (display) return DISPLAY_PAGE;
    return loginUrl(window.location.pathname + window.location.search);
  }

  function goToSignIn(me) {
    window.location.replace(signInUrl(me));
  }

  async function signOut() {
    try {
      await fetch(LOGOUT_URL, { method: "POST", credentials: "same-origin" });
    } finally {
      // Signed out or not reachable: either way this page no longer shows anyone's data.
      rememberSignInPage(LOGIN_PAGE);
      window.location.replace(LOGIN_PAGE);
    }
  }

  // "Retry-After: 42" -> 42; absent or unreadable -> null.
  function retryAfterSeconds(response) {
    const value = Number.parseInt(response.headers.get("Retry-After") || "", 10);
    return Number.isFinite(value) && value > 0 ? value : null;
  }

  window.IocSession = {
    LOGIN_PAGE, DISPLAY_PAGE, safeNext, loginUrl, roleLabel, isDisplay, scopeWords, whoAmI,
    rememberSignInPage, signInUrl, goToSignIn, signOut, retryAfterSeconds,
  };
})();
