// The sign-in pages: /login (a person: username + password) and /display (a wall screen: its
// display token, once). Both post JSON by fetch; the server answers with an HTTP-only cookie.
(function () {
  "use strict";

  const S = window.IocSession;
  const $ = (id) => document.getElementById(id);

  // What each page posts, and what it says when the server refuses.
  const PAGES = {
    login: {
      url: "/api/v1/auth/login",
      body: () => ({ username: $("username").value.trim(), password: $("password").value }),
      rejected: ["Sai tên đăng nhập hoặc mật khẩu.", "Wrong username or password."],
      invalid: ["Tên đăng nhập hoặc mật khẩu không hợp lệ.", "The username or password is not valid."],
      clearOnReject: "password",
      after: () => {
        S.rememberSignInPage(S.LOGIN_PAGE);
        const next = new URLSearchParams(window.location.search).get("next");
        return S.safeNext(next, window.location.origin);
      },
    },
    display: {
      url: "/api/v1/auth/display",
      body: () => ({ token: $("token").value.trim() }),
      rejected: ["Mã màn hình không hợp lệ hoặc đã bị thu hồi.", "Unknown or revoked display token."],
      invalid: ["Mã màn hình không hợp lệ.", "The display token is not valid."],
      clearOnReject: "token",
      after: () => {
        S.rememberSignInPage(S.DISPLAY_PAGE);
        return "/";
      },
    },
  };

  const page = PAGES[document.body.dataset.page];
  const form = $("sign-in-form");
  const submit = $("submit");
  const errorBox = $("form-error");
  let waitTimer = null;

  function showError(vi, en) {
    const line = document.createElement("span");
    line.textContent = vi;
    const english = document.createElement("span");
    english.className = "en";
    english.textContent = en;
    errorBox.replaceChildren(line, english);
    errorBox.hidden = false;
  }

  function clearError() {
    errorBox.hidden = true;
    errorBox.replaceChildren();
  }

  // Too many attempts: say how long to wait and keep the button off until then.
  function waitBeforeRetry(seconds) {
    clearInterval(waitTimer);
    let left = seconds || 60;
    const show = () =>
      showError(
        "Quá nhiều lần đăng nhập. Vui lòng thử lại sau " + left + " giây.",
        "Too many sign-in attempts. Try again in " + left + " s.",
      );
    show();
    submit.disabled = true;
    waitTimer = setInterval(() => {
      left -= 1;
      if (left > 0) {
        show();
        return;
      }
      clearInterval(waitTimer);
      submit.disabled = false;
      clearError();
    }, 1000);
  }

  async function send(event) {
    event.preventDefault();
    if (submit.disabled) return;
    if (!form.reportValidity()) return;
    clearError();
    submit.disabled = true;
    let response;
    try {
      response = await fetch(page.url, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(page.body()),
      });
    } catch (err) {
      submit.disabled = false;
      showError("Không kết nối được tới máy chủ. Vui lòng thử lại.", "Cannot reach the server. Please try again.");
      return;
    }
    if (response.ok) {
      window.location.replace(page.after());
      return;
    }
    submit.disabled = false;
    if (response.status === 429) {
      waitBeforeRetry(S.retryAfterSeconds(response));
    } else if (response.status === 401) {
      showError(...page.rejected);
      const field = $(page.clearOnReject);
      field.value = "";
      field.focus();
    } else if (response.status === 422) {
      showError(...page.invalid);
    } else {
      showError(
        "Không đăng nhập được (HTTP " + response.status + "). Vui lòng thử lại.",
        "Sign-in failed (HTTP " + response.status + "). Please try again.",
      );
    }
  }

  form.addEventListener("submit", send);
})();
