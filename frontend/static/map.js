// The province map: deck.gl built from the server's pydeck spec, recoloured from live data.
(function () {
  "use strict";

  const F = window.IocFormat;
  const PROVINCES = "provinces";
  const PROVINCE_LABELS = "province-labels";
  // Mainland, Hoàng Sa and Trường Sa [[west, south], [east, north]]; same as ioc/map/spec.py.
  const VIETNAM_BOUNDS = [[102.1, 7.6], [117.0, 23.4]];
  const FILL_ALPHA = 235;
  // Always labelled, whatever else competes for the space: the two largest cities.
  const PINNED_LABELS = new Set(["01", "79"]);
  const CHAR_WIDTH_EM = 0.62; // bold sans, Vietnamese letters included (an estimate, not a measure)

  function jsonConverter() {
    // Every layer and view class in the loaded bundles, so the spec may name any of them.
    const classes = {};
    for (const [name, value] of Object.entries(window.deck)) {
      if (typeof value === "function" && /(Layer|View)$/.test(name)) classes[name] = value;
    }
    return new deck.JSONConverter({ configuration: { classes } });
  }

  function escapeHtml(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    })[c]);
  }

  // extraRows: [label, text] pairs the page adds on top (the indicator the map is coloured by).
  function tooltipHtml(feature, province, inScope, extraRows) {
    const props = feature.properties;
    const name = province ? province.name : props.name;
    const extra = (extraRows || []).map(([k, v]) => "<tr><td>" + escapeHtml(k) + "</td><td>" + escapeHtml(v) +
      "</td></tr>").join("");
    if (!province) {
      const note = inScope ? "Chưa có số liệu hồ sơ" : "Ngoài phạm vi được giao";
      return "<b>" + escapeHtml(name) + "</b>" + (extra && inScope ? "<table>" + extra + "</table>" : "") +
        "<br>" + note;
    }
    const rows = [
      ["Đúng hạn", F.percent(province.on_time_rate)],
      ["Quá hạn", F.integer(province.overdue)],
      ["Đang xử lý", F.integer(province.open)],
      ["Sắp đến hạn", F.integer(province.due_soon)],
      ["Tiếp nhận (30 ngày)", F.integer(province.received)],
      ["Đã giải quyết", F.integer(province.resolved)],
      ["Trễ hạn chưa xin lỗi", F.integer(province.late_without_apology)],
    ];
    return "<b>" + escapeHtml(name) + "</b><table>" + extra +
      rows.map(([k, v]) => "<tr><td>" + k + "</td><td>" + escapeHtml(v) + "</td></tr>").join("") +
      "</table>";
  }

  // The label rows of the spec: {code, text} per province (short names, before any live data).
  function provinceLabelRows(spec) {
    const layer = (spec.layers || []).find((l) => l.id === PROVINCE_LABELS);
    return layer && Array.isArray(layer.data) ? layer.data.filter((row) => row.code) : [];
  }

  class ProvinceMap {
    // callbacks: onShapesLoaded(), onAfterRender(), inScope(code) (optional; default: all),
    //   fillFor(code) -> [r, g, b] (optional; default: the live on-time bands),
    //   tooltipRows(code) -> [[label, text]] (optional)
    constructor(container, spec, provincesByCode, callbacks) {
      const props = jsonConverter().convert(spec);
      this.container = container;
      this.provincesByCode = provincesByCode;
      this.version = 0;
      this.baseLayers = props.layers;
      this.labelRows = this._layer(PROVINCE_LABELS).props.data;
      this.labelSize = this._layer(PROVINCE_LABELS).props.getSize;
      this.shapesLoaded = false;
      this.features = null;
      this.callbacks = callbacks;
      this.viewState = this._fittedView() || props.initialViewState;
      this.labelZoom = null;
      this.deck = new deck.Deck({
        parent: container,
        width: "100%",
        height: "100%",
        views: props.views,
        initialViewState: this.viewState,
        layers: this._layers(),
        onViewStateChange: ({ viewState }) => {
          this.viewState = viewState;
          // Which labels fit depends on the zoom: re-declutter once the zoom settles on a new value.
          if (Math.abs(viewState.zoom - this.labelZoom) > 0.05) this.refresh();
        },
        getTooltip: ({ object, layer }) => {
          if (!object || !layer || layer.id !== PROVINCES) return null;
          return {
            html: tooltipHtml(object, this.provincesByCode()[object.properties.code],
              this._inScope(object.properties.code),
              callbacks.tooltipRows ? callbacks.tooltipRows(object.properties.code) : []),
            className: "map-tooltip",
          };
        },
        onAfterRender: () => callbacks.onAfterRender(),
      });
      // A wall screen changes size without anyone to pan the map back: refit on every resize.
      new ResizeObserver(() => {
        const view = this._fittedView();
        if (!view) return;
        this.viewState = view;
        this.deck.setProps({ initialViewState: view });
        this.refresh();
      }).observe(container);
    }

    _layer(id) {
      return this.baseLayers.find((layer) => layer.id === id);
    }

    _fittedView() {
      const width = this.container.clientWidth;
      const height = this.container.clientHeight;
      if (width < 50 || height < 50) return null;
      const padding = Math.round(Math.min(width, height) * 0.03);
      const fitted = new deck.WebMercatorViewport({ width, height }).fitBounds(VIETNAM_BOUNDS, { padding });
      return { longitude: fitted.longitude, latitude: fitted.latitude, zoom: fitted.zoom, pitch: 0, bearing: 0 };
    }

    _inScope(code) {
      return this.callbacks.inScope ? this.callbacks.inScope(code) : true;
    }

    _fillColour(code) {
      if (this.callbacks.fillFor) return this.callbacks.fillFor(code).concat(FILL_ALPHA);
      const province = this.provincesByCode()[code];
      if (!province && !this._inScope(code)) return F.OUT_OF_SCOPE.colour.concat(FILL_ALPHA);
      return F.band(province ? province.on_time_rate : null).colour.concat(FILL_ALPHA);
    }

    _labelText(row) {
      const province = this.provincesByCode()[row.code];
      return province && province.overdue > 0 ? row.text + " · " + F.integer(province.overdue) : row.text;
    }

    // 34 names do not fit side by side in the Red River delta at country scale: keep the pinned
    // cities, then the provinces with most overdue dossiers, and drop a label that would overlap
    // one already placed. Zooming in brings the dropped ones back; the table lists them all anyway.
    _placedLabels() {
      const width = this.container.clientWidth;
      const height = this.container.clientHeight;
      this.labelZoom = this.viewState.zoom;
      if (width < 50 || height < 50) return [];
      const viewport = new deck.WebMercatorViewport(Object.assign({}, this.viewState, { width, height }));
      const provinces = this.provincesByCode();
      const overdue = (row) => (provinces[row.code] ? provinces[row.code].overdue : 0);
      const ordered = this.labelRows.slice().sort((a, b) =>
        (PINNED_LABELS.has(b.code) - PINNED_LABELS.has(a.code)) || (overdue(b) - overdue(a)));
      const placed = [];
      const boxes = [];
      for (const row of ordered) {
        const text = this._labelText(row);
        const [x, y] = viewport.project([row.lon, row.lat]);
        const halfWidth = (text.length * CHAR_WIDTH_EM * this.labelSize) / 2 + 2;
        const halfHeight = this.labelSize * 0.7;
        const box = [x - halfWidth, y - halfHeight, x + halfWidth, y + halfHeight];
        const clashes = boxes.some((o) => box[0] < o[2] && o[0] < box[2] && box[1] < o[3] && o[1] < box[3]);
        if (clashes) continue;
        boxes.push(box);
        placed.push(Object.assign({}, row, { text }));
      }
      return placed;
    }

    // Layers are immutable in deck.gl: each update clones the spec's layers with new accessors.
    _layers() {
      const version = this.version;
      return this.baseLayers.map((layer) => {
        if (layer.id === PROVINCES) {
          return layer.clone({
            getFillColor: (feature) => this._fillColour(feature.properties.code),
            updateTriggers: { getFillColor: version },
            onDataLoad: (data) => {
              this.features = (data && data.features) || [];
              this.shapesLoaded = true;
              this.callbacks.onShapesLoaded();
            },
          });
        }
        if (layer.id === PROVINCE_LABELS) {
          return layer.clone({ data: this._placedLabels() });
        }
        return layer;
      });
    }

    refresh() {
      this.version += 1;
      this.deck.setProps({ layers: this._layers() });
    }

    // code -> [r, g, b, a] as the provinces layer deck.gl holds now colours each loaded shape:
    // the accessor of the layer instance being drawn, applied to the data it was given.
    provinceFills() {
      const layer = this.deck.props.layers.find((l) => l.id === PROVINCES);
      const fills = {};
      if (!layer || !this.features) return fills;
      for (const feature of this.features) fills[feature.properties.code] = layer.props.getFillColor(feature);
      return fills;
    }

    // Distinct province codes that are actually drawn: pick every province pixel of the canvas.
    renderedProvinceCodes() {
      const infos = this.deck.pickObjects({
        x: 0,
        y: 0,
        width: this.container.clientWidth,
        height: this.container.clientHeight,
        layerIds: [PROVINCES],
        maxObjects: null,
      });
      const codes = new Set(infos.filter((i) => i.object).map((i) => i.object.properties.code));
      return Array.from(codes).sort();
    }
  }

  window.IocMap = { ProvinceMap, provinceLabelRows };
})();
