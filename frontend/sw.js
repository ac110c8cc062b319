// The service worker of the phone page, served from /sw.js so its scope is the whole site.
//
// push: shows the notification the delivery worker sent (alerts/delivery/webpush.py). The payload
//   is JSON: { title, body, url, alert_id, tag } (fields may also sit under "data"); anything
//   unreadable still shows as a plain notification, so an alert is never silently dropped.
// notificationclick: "Xác nhận" acknowledges the alert through the API with the session cookie;
//   a tap anywhere else (or an acknowledgement that fails, e.g. signed out) opens the alert on
//   the phone page.
"use strict";

const PHONE_PAGE = "/phone";
const ICON = "/static/phone-icon-192.png";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

function readPayload(event) {
  if (!event.data) return {};
  try {
    const json = event.data.json();
    return Object.assign({}, json.data || {}, json);
  } catch (err) {
    return { body: event.data.text() };
  }
}

function alertPage(alertId) {
  return alertId ? PHONE_PAGE + "#alert-" + encodeURIComponent(alertId) : PHONE_PAGE;
}

// Only a path on this site: a payload must not send the phone elsewhere.
function samePath(url, fallback) {
  try {
    const parsed = new URL(url, self.location.origin);
    if (parsed.origin === self.location.origin) return parsed.pathname + parsed.search + parsed.hash;
  } catch (err) {
    // fall through
  }
  return fallback;
}

self.addEventListener("push", (event) => {
  const p = readPayload(event);
  const alertId = p.alert_id === undefined || p.alert_id === null ? null : String(p.alert_id);
  const url = samePath(p.url || "", alertPage(alertId));
  const options = {
    body: p.body || "",
    icon: ICON,
    badge: ICON,
    lang: "vi",
    tag: p.tag || (alertId ? "alert-" + alertId : undefined),
    data: { url: url, alert_id: alertId },
    actions: alertId ? [{ action: "ack", title: "Xác nhận" }] : [],
  };
  event.waitUntil(self.registration.showNotification(p.title || "Cảnh báo IOC", options));
});

async function openPage(url) {
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  for (const client of windows) {
    if (new URL(client.url).pathname === PHONE_PAGE && "focus" in client) {
      await client.focus();
      return client.navigate ? client.navigate(url) : client;
    }
  }
  return self.clients.openWindow(url);
}

async function acknowledge(alertId, url) {
  try {
    const response = await fetch("/api/v1/alerts/" + encodeURIComponent(alertId) + "/ack", {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ comment: "Xác nhận từ thông báo trên điện thoại" }),
    });
    if (response.ok) return null;
  } catch (err) {
    // offline or the server away: open the page, where the person can try again
  }
  return openPage(url);
}

self.addEventListener("notificationclick", (event) => {
  const notification = event.notification;
  const data = notification.data || {};
  notification.close();
  const url = data.url || PHONE_PAGE;
  if (event.action === "ack" && data.alert_id) {
    event.waitUntil(acknowledge(data.alert_id, url));
    return;
  }
  event.waitUntil(openPage(url));
});
