// The three streams' headline numbers for the signed-in scope: dossiers, payouts, ID issuance.
//
// Dossiers' on-time rate and overdue count are the live province rows' totals (the same numbers
// as the tiles); everything else comes from the live feed's `headline:<stream>` entries, computed by the
// server for this scope (ioc/live/headline.py). A stream with nothing to show says so in words,
// "chưa có dữ liệu", rather than a zero nobody counted.
(function () {
  "use strict";

  const F = window.IocFormat;
  const NO_DATA = "chưa có dữ liệu";
  const NO_TARGET = "chưa có chỉ tiêu";

  const $ = (id) => document.getElementById(id);

  function setFigure(id, text, noData) {
    const node = $(id);
    node.textContent = text;
    node.classList.toggle("no-data", Boolean(noData));
  }

  function setNote(id, text) {
    $(id).textContent = text || "";
  }

  // The stream's entry when the server has figures for it, else null.
  function available(headline, stream) {
    const entry = headline && headline[stream];
    return entry && entry.available ? entry : null;
  }

  function dayText(iso) {
    // "2026-10-20" -> "20/10/2026" (a calendar date: no time zone arithmetic).
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || "");
    return m ? m[3] + "/" + m[2] + "/" + m[1] : "";
  }

  function monthText(iso) {
    const m = /^(\d{4})-(\d{2})/.exec(iso || "");
    return m ? m[2] + "/" + m[1] : "";
  }

  // totals: the live province totals (or null before the first snapshot); windowText: "30 ngày".
  function renderDossier(headline, totals, windowText) {
    const dossier = available(headline, "dossier");
    const today = dossier ? dossier.received_today : null;
    setFigure("hl-dossier-received-today", today === null || today === undefined ? NO_DATA : F.integer(today),
      today === null || today === undefined);
    $("hl-dossier-window").textContent = windowText ? "(" + windowText + ")" : "";
    if (!totals) {
      setFigure("hl-dossier-on-time", "—");
      setFigure("hl-dossier-overdue", "—");
      return;
    }
    const rate = totals.on_time_rate;
    setFigure("hl-dossier-on-time", rate === null ? NO_DATA : F.percent(rate), rate === null);
    setFigure("hl-dossier-overdue", F.integer(totals.overdue));
  }

  function renderPayout(headline) {
    const payout = available(headline, "payout");
    if (!payout) {
      $("hl-payout-cycle").textContent = "";
      for (const id of ["hl-payout-completion", "hl-payout-cashless"]) setFigure(id, NO_DATA, true);
      setNote("hl-payout-completion-note", "");
      setNote("hl-payout-cashless-note", "");
      return;
    }
    $("hl-payout-cycle").textContent = payout.cycle_month ? "kỳ " + monthText(payout.cycle_month) : "";
    const completion = payout.completion;
    setFigure("hl-payout-completion", completion === null ? NO_DATA : F.percent(completion), completion === null);
    const deadline = payout.deadline ? " · hạn " + dayText(payout.deadline) : "";
    setNote("hl-payout-completion-note",
      F.integer(payout.paid) + "/" + F.integer(payout.beneficiaries_due) + " đối tượng" + deadline);
    const cashless = payout.cashless_share;
    setFigure("hl-payout-cashless", cashless === null ? NO_DATA : F.percent(cashless), cashless === null);
    setNote("hl-payout-cashless-note",
      payout.cashless_target === null || payout.cashless_target === undefined
        ? "" : "mục tiêu " + F.percent(payout.cashless_target));
  }

  function renderId(headline) {
    const id = available(headline, "id_issuance");
    const coverage = id ? id.cccd_coverage : null;
    setFigure("hl-id-cccd", coverage === null || coverage === undefined ? NO_DATA : F.percent(coverage),
      coverage === null || coverage === undefined);
    setNote("hl-id-cccd-note", id && id.cccd_target !== null && id.cccd_target !== undefined
      ? "mục tiêu " + F.percent(id.cccd_target) + (id.cccd_deadline ? " · hạn " + dayText(id.cccd_deadline) : "")
      : "");
    // Level-2 activations are shown against a target; reports without one have nothing to compare.
    const target = id ? id.l2_target : null;
    if (!id || target === null || target === undefined) {
      setFigure("hl-id-l2", id ? NO_TARGET : NO_DATA, true);
      setNote("hl-id-l2-note", "");
      return;
    }
    setFigure("hl-id-l2", F.percent(id.l2_activation));
    setNote("hl-id-l2-note", F.integer(id.l2_activated) + "/" + F.integer(target) + " tài khoản" +
      (id.l2_deadline ? " · hạn " + dayText(id.l2_deadline) : ""));
  }

  function render(headline, totals, windowText) {
    renderDossier(headline, totals, windowText);
    renderPayout(headline);
    renderId(headline);
  }

  window.IocHeadline = { NO_DATA, render };
})();
