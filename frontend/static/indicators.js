// Indicators on the map: formatting by unit, colour classes with a better/worse direction, and the
// one request that reads current values (GET /api/v1/indicators/current?level=province).
// Pure functions but `fetchCurrent`; no DOM.
(function () {
  "use strict";

  const F = window.IocFormat;
  const CURRENT_URL = "/api/v1/indicators/current?level=province";
  // The dossier on-time rate straight from the live feed (the map's first colouring): the same
  // definition as the on_time_rate indicator over the dashboard's window, but pushed, not polled.
  const LIVE_ON_TIME = "live:on_time_rate";
  // Worse → better. The ends match the on-time bands' red and green, so the map reads the same.
  const RAMP = [
    [215, 48, 39],
    [244, 109, 67],
    [253, 174, 97],
    [166, 217, 106],
    [26, 152, 80],
  ];
  const STREAM_LABEL = {
    dossier: "Hồ sơ thủ tục hành chính",
    payout: "Chi trả an sinh xã hội",
    id_issuance: "Căn cước, định danh điện tử",
  };
  const NO_DATA_TEXT = "chưa có dữ liệu";
  const compactFormat = new Intl.NumberFormat("vi-VN", { maximumFractionDigits: 1 });

  // ---- values in their unit -------------------------------------------------------------------

  // 343_200_000_000 -> "343,2 tỷ đồng"; 1_500_000 -> "1,5 triệu đồng".
  function vnd(value) {
    const abs = Math.abs(value);
    if (abs >= 1e9) return compactFormat.format(value / 1e9) + " tỷ đồng";
    if (abs >= 1e6) return compactFormat.format(value / 1e6) + " triệu đồng";
    return F.integer(value) + " đồng";
  }

  function formatValue(unit, value) {
    if (value === null || value === undefined || Number.isNaN(value)) return NO_DATA_TEXT;
    if (unit === "ratio") return F.percent(value);
    if (unit === "vnd") return vnd(value);
    if (unit === "per_day") return F.integer(Math.ceil(value)) + "/ngày";
    return F.integer(Math.round(value));
  }

  // Class bounds snap to what the legend can show: 0,1 % for ratios, whole numbers otherwise.
  function snap(unit, value) {
    if (unit === "ratio") return Math.round(value * 1000) / 1000;
    return Math.round(value);
  }

  function directionText(better) {
    return better === "lower" ? "Thấp hơn là tốt hơn ↓" : "Cao hơn là tốt hơn ↑";
  }

  // ---- colour classes -------------------------------------------------------------------------

  // Every place has the same value: nothing to rank, so the colour says how that value stands
  // against the target (a count where lower is better aims at 0), or neutral without one.
  function singleRank(definition, value) {
    let target = definition.target;
    if ((target === null || target === undefined) && definition.better === "lower" && definition.unit === "count") {
      target = 0;
    }
    if (target === null || target === undefined) return Math.floor(RAMP.length / 2);
    const meets = definition.better === "lower" ? value <= target : value >= target;
    return meets ? RAMP.length - 1 : 0;
  }

  // Up to five equal classes over the values shown (min..max), coloured from worse to better in
  // the indicator's direction. Returns { classes: [{min, max, colour, label}] best first, colourOf }.
  function scaleFor(definition, values) {
    const unit = definition.unit;
    const present = values.filter((v) => v !== null && v !== undefined && !Number.isNaN(v));
    if (present.length === 0) return { classes: [], colourOf: () => null };
    const low = snap(unit, Math.min(...present));
    const high = snap(unit, Math.max(...present));
    const step = unit === "ratio" ? 0.001 : 1;
    const count = Math.max(1, Math.min(RAMP.length, Math.round((high - low) / step)));
    const bounds = [];
    for (let i = 0; i <= count; i++) bounds.push(i === count ? high : snap(unit, low + ((high - low) * i) / count));
    const higherIsBetter = definition.better !== "lower";
    // Class i (ascending values) takes a ramp colour spread over the whole ramp.
    const colours = [];
    for (let i = 0; i < count; i++) {
      const rank = count === 1 ? singleRank(definition, low) : Math.round((i * (RAMP.length - 1)) / (count - 1));
      colours.push(RAMP[higherIsBetter || count === 1 ? rank : RAMP.length - 1 - rank]);
    }
    const classes = [];
    for (let i = 0; i < count; i++) {
      const min = bounds[i];
      const max = bounds[i + 1];
      const label = count === 1 || min === max
        ? formatValue(unit, min)
        : formatValue(unit, min) + " – " + formatValue(unit, max);
      classes.push({ min, max, colour: colours[i], label });
    }
    function classOf(value) {
      if (value === null || value === undefined || Number.isNaN(value)) return null;
      const v = snap(unit, value);
      for (let i = count - 1; i >= 0; i--) if (v >= classes[i].min) return classes[i];
      return classes[0];
    }
    // Best first, as in the on-time legend.
    const ordered = higherIsBetter ? classes.slice().reverse() : classes.slice();
    return { classes: ordered, colourOf: (value) => { const c = classOf(value); return c ? c.colour : null; } };
  }

  // ---- the API --------------------------------------------------------------------------------

  // -> { status: "ok", data } | { status: "absent" } (no indicators API on this server) |
  //    { status: "error", message }
  async function fetchCurrent() {
    let response;
    try {
      response = await fetch(CURRENT_URL, { credentials: "same-origin", cache: "no-store" });
    } catch (err) {
      return { status: "error", message: "không kết nối được máy chủ" };
    }
    if (response.status === 404 || response.status === 405) return { status: "absent" };
    if (!response.ok) return { status: "error", message: "HTTP " + response.status };
    let data;
    try {
      data = await response.json();
    } catch (err) {
      return { status: "error", message: "dữ liệu không đọc được" };
    }
    if (!data || !Array.isArray(data.indicators) || !Array.isArray(data.localities)) {
      return { status: "error", message: "dữ liệu không đúng dạng" };
    }
    return { status: "ok", data };
  }

  // code -> {indicator code -> value} from the /current answer.
  function valuesByLocality(data) {
    const out = {};
    for (const locality of data.localities) out[locality.code] = locality.values || {};
    return out;
  }

  window.IocIndicators = {
    LIVE_ON_TIME, STREAM_LABEL, NO_DATA_TEXT, formatValue, directionText, scaleFor, fetchCurrent, valuesByLocality,
  };
})();
