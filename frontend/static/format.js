// Vietnamese formatting and the on-time colour scale: pure functions, no DOM.
(function () {
  "use strict";

  const TIME_ZONE = "Asia/Ho_Chi_Minh";
  const integerFormat = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 0 });
  const oneDecimalFormat = new Intl.NumberFormat("vi-VN", {
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  });
  const clockFormat = new Intl.DateTimeFormat("vi-VN", {
    timeZone: TIME_ZONE, hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const dateFormat = new Intl.DateTimeFormat("vi-VN", {
    timeZone: TIME_ZONE, weekday: "long", day: "2-digit", month: "2-digit", year: "numeric",
  });

  // "1.234"; an em dash when there is nothing to count.
  function integer(value) {
    return value === null || value === undefined ? "—" : integerFormat.format(value);
  }

  // 0.973 -> "97,3 %" (Vietnamese decimal comma, a space before the sign).
  function percent(rate) {
    return rate === null || rate === undefined ? "—" : oneDecimalFormat.format(rate * 100) + " %";
  }

  function clock(date) {
    return clockFormat.format(date);
  }

  function longDate(date) {
    return dateFormat.format(date);
  }

  // "3 giây trước", "5 phút trước", "2 giờ trước", "4 ngày trước".
  function timeSince(then, now) {
    const seconds = Math.max(0, Math.floor((now.getTime() - then.getTime()) / 1000));
    if (seconds < 60) return seconds + " giây trước";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return minutes + " phút trước";
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " giờ trước";
    return Math.floor(hours / 24) + " ngày trước";
  }

  // Bands of the on-time rate, best first; the map, the legend and the table share them.
  const BANDS = [
    { key: "good", min: 0.95, label: "≥ 95 %", colour: [26, 152, 80] },
    { key: "fair", min: 0.90, label: "90 – 95 %", colour: [166, 217, 106] },
    { key: "poor", min: 0.80, label: "80 – 90 %", colour: [253, 174, 97] },
    { key: "bad", min: -Infinity, label: "< 80 %", colour: [215, 48, 39] },
  ];
  const NO_DATA = { key: "none", min: null, label: "Chưa có dữ liệu", colour: [120, 128, 140] };
  // Provinces a scoped user may not see: darker than "no data", so nobody reads them as empty.
  const OUT_OF_SCOPE = { key: "outside", min: null, label: "Ngoài phạm vi được giao", colour: [48, 58, 72] };

  function band(rate) {
    if (rate === null || rate === undefined || Number.isNaN(rate)) return NO_DATA;
    return BANDS.find((b) => rate >= b.min);
  }

  function cssColour(rgb) {
    return "rgb(" + rgb.join(",") + ")";
  }

  window.IocFormat = {
    TIME_ZONE, BANDS, NO_DATA, OUT_OF_SCOPE, integer, percent, clock, longDate, timeSince, band, cssColour,
  };
})();
