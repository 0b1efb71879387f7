"""The page's stylesheet: layout, panels, legend, cards, the simple view and the kiosk.

One CSS string that :mod:`twin.app.layout` puts in the page. The simple view (larger text,
high contrast, larger targets) is the ``twin-simple`` class on the root element.
"""

CSS = """
html, body { margin: 0; height: 100%; overflow: hidden; }
.twin-root { display: flex; flex-direction: column; height: 100vh; width: 100vw; }
.twin-body { display: flex; flex: 1 1 auto; min-height: 0; }
.twin-view { position: relative; flex: 1 1 auto; min-width: 0; background: #cfd8dc; }
.twin-side { width: 380px; overflow-y: auto; padding: 8px; background: #fafafa;
  border-left: 1px solid #ddd; }
.twin-panel { background: #fff; border-radius: 6px; padding: 10px 12px; margin-bottom: 8px;
  box-shadow: 0 1px 3px rgba(0,0,0,.15); }
.twin-text { font-size: 14px; line-height: 1.35; }
.twin-small { font-size: 12px; color: #555; }
.twin-legend-bar { height: 14px; border-radius: 3px; position: relative;
  border: 1px solid rgba(0,0,0,.25); }
.twin-ticks { position: relative; height: 18px; }
.twin-tick { position: absolute; transform: translateX(-50%); font-size: 11px;
  white-space: nowrap; }
.twin-tick:first-child { transform: none; }
.twin-tick:last-child { transform: translateX(-100%); }
.twin-threshold { position: absolute; top: -4px; bottom: -4px; width: 2px;
  background: #000; }
.twin-swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
  margin-right: 4px; vertical-align: middle; border: 1px solid rgba(0,0,0,.3); }
.twin-fields td { padding: 1px 8px 1px 0; vertical-align: top; }
.twin-fields td:first-child { color: #555; white-space: nowrap; }
.twin-table { width: 100%; border-collapse: collapse; }
.twin-table th { text-align: left; font-weight: 600; border-bottom: 1px solid #ccc; }
.twin-table td, .twin-table th { padding: 3px 4px; font-size: 12px; }
.twin-table tr.twin-row { cursor: pointer; }
.twin-table tr.twin-row:hover, .twin-table tr.twin-row:focus { background: #e3f2fd;
  outline: 2px solid #1565c0; }
.twin-table tr.twin-selected { background: #ffe082; }
.twin-stale { color: #777; font-style: italic; }
.twin-synthetic { background: #fff3e0; color: #8a4b00; border: 1px solid #ffb74d;
  border-radius: 4px; padding: 2px 8px; font-size: 13px; font-weight: 600; }
.twin-timebar { display: flex; align-items: center; gap: 8px; padding: 4px 12px;
  background: #fff; border-top: 1px solid #ddd; }
.twin-caption { position: absolute; left: 24px; bottom: 24px; max-width: 60%;
  background: rgba(255,255,255,.92); border-radius: 8px; padding: 16px 20px;
  box-shadow: 0 2px 8px rgba(0,0,0,.3); }
.twin-caption h2 { margin: 0 0 6px 0; font-size: 30px; }
.twin-caption div { font-size: 20px; }
.twin-overlay-legend { position: absolute; right: 24px; top: 24px; width: 340px; }
.twin-overlay-label { position: absolute; left: 24px; top: 24px; }
.twin-simple .twin-text, .twin-simple .twin-small, .twin-simple .twin-table td,
.twin-simple .twin-table th, .twin-simple .twin-tick { font-size: 22px !important;
  line-height: 1.45; color: #000; }
.twin-simple .v-btn { min-height: 52px !important; font-size: 20px !important; }
.twin-simple .twin-panel { border: 2px solid #000; box-shadow: none; }
.twin-simple .twin-side { width: 480px; background: #fff; }
.twin-simple .twin-fields td:first-child { color: #000; }
.twin-simple .twin-synthetic { font-size: 17px; border: 2px solid #000; color: #000; }
.twin-simple .v-chip { font-size: 18px !important; min-height: 40px; }
.twin-simple .v-field-label, .twin-simple .v-field__input,
.twin-simple .v-label { font-size: 20px !important; opacity: 1; }
.twin-simple .twin-tick:not(:first-child):not(:last-child) { display: none; }
.twin-simple .twin-ticks { height: 32px; }
.twin-simple .v-btn { text-transform: none !important; letter-spacing: normal !important; }
/* long "device · quantity" labels: the value on its own line, not pushed out of the panel */
.twin-simple .twin-readings tr, .twin-simple .twin-readings td { display: block; }
.twin-simple .twin-readings td:first-child { padding-top: 6px; }
.twin-simple .twin-readings td:last-child { font-weight: 700; padding-left: 12px; }
.twin-simple .v-field--variant-filled .v-field__input { padding-top: 30px; min-height: 66px; }
.twin-simple .twin-chart { margin-top: 12px !important; }
/* the large table must fit the panel: fixed columns, long names and quantities wrap */
.twin-simple .twin-table { table-layout: fixed; }
.twin-simple .twin-table th:nth-child(2), .twin-simple .twin-table td:nth-child(2) {
  display: none; }  /* the quantity moves above the value (.twin-simple-only) */
.twin-simple .twin-table td { overflow-wrap: break-word; }
.twin-simple .twin-table td:last-child { white-space: normal; }
.twin-simple-only { display: none; }
.twin-simple .twin-simple-only { display: block; font-size: 18px !important; color: #000; }
/* keyboard focus must be seen: Vuetify's own focus overlay is a faint tint */
.twin-root :focus-visible { outline: 3px solid #ffb300 !important; outline-offset: 2px; }
.v-btn-group .v-btn:focus-visible { outline-offset: -5px; }  /* the group clips outside */
.twin-table td:last-child { white-space: nowrap; }
.twin-simple :focus-visible { outline: 4px solid #000 !important;
  box-shadow: 0 0 0 7px #ffeb3b !important; }
.twin-toolbar-title { font-size: 20px; font-weight: 500; line-height: 1.2; }
.twin-nowrap { flex-shrink: 0; }
/* Vuetify gives v-alert "flex: 1 1" (basis 0): in the page's column it collapsed to its
   padding and hid the database/feed warning */
.twin-banner { flex: 0 0 auto !important; }
.twin-banner.bg-warning { background: #ffc107 !important; color: #000 !important; }
"""
