"""The page: toolbar, 3D view, legend, info card, sensor table, time bar, kiosk overlays.

Built once per :class:`~twin.app.app.TwinApp` with trame's Vuetify 3 widgets. Everything
shown is bound to state the app computes; the template holds no logic beyond showing and
hiding. Every control has an ``aria-label`` and is reachable with the Tab key; test hooks are
``data-testid`` attributes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from trame.ui.vuetify3 import VAppLayout
from trame.widgets import client, html
from trame.widgets import vuetify3 as v3
from trame_pyvista.widgets import PyVistaRemoteView

from twin.app import picking, render
from twin.app.kiosk import RECONNECT_JS

if TYPE_CHECKING:
    from twin.app.app import TwinApp

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


def build(app: TwinApp) -> VAppLayout:
    """Build the page of ``app`` on its server.

    Parameters
    ----------
    app : TwinApp
        The application.

    Returns
    -------
    trame.ui.vuetify3.VAppLayout
        The layout (also registered as the server's main template).
    """
    server, ctrl = app.server, app.server.controller
    server.state.trame__title = "Digitaler Zwilling Ludwigshafen"
    server.state.client_only("view_down", "view_up")
    server.state.view_down = [0, 0]
    server.state.view_up = [0, 0]
    with VAppLayout(server, full_height=True) as page:
        client.Style(CSS)
        client.Script(RECONNECT_JS)
        with html.Div(
            classes=("simple ? 'twin-root twin-simple' : 'twin-root'",),
            raw_attrs=[':lang="lang"', 'data-testid="app-root"'],
        ):
            _toolbar(app)
            with v3.VAlert(
                v_if="banner",
                type="warning",
                density="compact",
                raw_attrs=['role="alert"', 'data-testid="banner"'],
                classes="twin-text twin-banner ma-0",
                rounded=0,
            ):
                html.Span("{{ banner }}")
            with html.Div(classes="twin-body"):
                with html.Div(
                    classes="twin-view",
                    raw_attrs=[
                        'data-testid="view3d"',
                        '@pointerdown="view_down = [$event.clientX, $event.clientY]"',
                        '@pointerup="view_up = [$event.clientX, $event.clientY]"',
                        ":aria-label=\"labels['app.help_text']\"",
                    ],
                    click=(
                        ctrl.view_click if not app.local_rendering else app.user_input,
                        "[{position: {x: $event.clientX - $event.currentTarget"
                        ".getBoundingClientRect().left, y: $event.currentTarget"
                        ".getBoundingClientRect().bottom - $event.clientY}, size: "
                        "[$event.currentTarget.clientWidth, $event.currentTarget.clientHeight],"
                        " moved: Math.hypot($event.clientX - view_down[0],"
                        " $event.clientY - view_down[1])}]",
                    ),
                ):
                    _view(app)
                    _kiosk_overlays(app)
                with html.Div(
                    v_if="!kiosk", classes="twin-side", raw_attrs=['role="complementary"']
                ):
                    _controls(app)
                    _legend(app)
                    _card(app)
                    _sensor_table(app)
            _timebar(app)
    return page


def _view(app: TwinApp) -> None:
    ctrl = app.server.controller
    if app.local_rendering:
        # vtk.js picks in the browser; a drag (press and release apart) is not a click
        moved = "Math.hypot(view_up[0] - view_down[0], view_up[1] - view_down[1])"
        view = render.LocalView(
            app.plotter,
            on_camera=app.on_camera,
            picking_modes=("['click']",),
            click=(
                lambda event=None, moved=0.0: picking.select_local(app, event, moved),
                f"[$event, {moved}]",
            ),
        )
        client.Script(view.script())  # colour patches in, the browser's camera out
    else:
        view = PyVistaRemoteView(
            app.plotter,
            interactive_ratio=0.5,
            still_ratio=1,
            interactive_quality=50,
            still_quality=85,
            interactor_events=("twin_events", ["StartInteraction", "EndInteraction"]),
            StartInteraction=ctrl.user_input,
            EndInteraction=ctrl.on_camera,
        )
    app.view = view


def _toolbar(app: TwinApp) -> None:
    ctrl = app.server.controller
    with v3.VToolbar(
        v_if="!kiosk",
        density="comfortable",
        color="#263238",
        theme="dark",
        raw_attrs=['role="banner"'],
    ):
        html.Div(
            "{{ title }}",
            classes="twin-toolbar-title mx-4",
            raw_attrs=['data-testid="title"'],
        )
        html.Span(
            "{{ labels['app.synthetic'] }}",
            v_if="synthetic",
            classes="twin-synthetic mr-4",
            raw_attrs=['data-testid="synthetic-label"'],
        )
        v3.VSpacer()
        v3.VBtn(
            "{{ labels['app.reset_camera'] }}",
            click=ctrl.reset_camera,
            variant="text",
            raw_attrs=[":aria-label=\"labels['app.reset_camera']\""],
        )
        with v3.VBtnToggle(
            v_model=("lang",),
            mandatory=True,
            density="compact",
            classes="mx-2 twin-nowrap",
            raw_attrs=[":aria-label=\"labels['app.language']\"", 'data-testid="language"'],
        ):
            v3.VBtn("DE", value="de", raw_attrs=['aria-label="Deutsch"', 'data-testid="lang-de"'])
            v3.VBtn("EN", value="en", raw_attrs=['aria-label="English"', 'data-testid="lang-en"'])
        v3.VSwitch(
            v_model=("simple",),
            label=("labels['app.simple_view']",),
            hide_details=True,
            density="compact",
            color="amber",
            classes="mx-4 flex-grow-0 twin-nowrap",
            raw_attrs=[":aria-label=\"labels['app.simple_view']\"", 'data-testid="simple"'],
        )


def _controls(app: TwinApp) -> None:
    goto = f"trigger('{app.server.trigger_name(app.goto_result)}', [r.index])"
    with html.Div(classes="twin-panel", raw_attrs=['role="search"']):
        v3.VSelect(
            v_model=("quantity",),
            items=("quantity_items",),
            label=("labels['app.quantity']",),
            density="compact",
            hide_details=True,
            classes="mb-2",
            raw_attrs=[":aria-label=\"labels['app.quantity']\"", 'data-testid="quantity"'],
        )
        v3.VTextField(
            v_model=("search_text",),
            label=("labels['search.label']",),
            placeholder=("labels['search.placeholder']",),
            prepend_inner_icon="mdi-magnify",
            density="compact",
            hide_details=True,
            clearable=True,
            raw_attrs=[
                ":aria-label=\"labels['search.label']\"",
                'data-testid="search"',
                f"@keydown.enter=\"trigger('{app.server.trigger_name(app.search)}')\"",
            ],
        )
        with html.Div(
            v_if="search_message",
            classes="mt-1",
            raw_attrs=['data-testid="search-results"'],
        ):
            html.Div("{{ search_message }}", classes="twin-small")
            v3.VChip(
                "{{ r.label }} · {{ r.kind }}",
                v_for="r in search_results",
                key="r.index",
                click=(app.goto_result, "[r.index]"),
                size="small",
                classes="ma-1",
                raw_attrs=['tabindex="0"', f'@keydown.enter="{goto}"'],
            )


def _legend(app: TwinApp) -> None:
    with html.Div(
        v_if="legend",
        classes="twin-panel",
        raw_attrs=['data-testid="legend"', 'role="figure"', ':aria-label="legend.title"'],
    ):
        html.Div(
            "{{ legend.title }}",
            classes="twin-text font-weight-bold mb-1",
            raw_attrs=['data-testid="legend-title"'],
        )
        with html.Div(
            v_if="legend.gradient",
            classes="twin-legend-bar",
            style=("{background: legend.gradient}",),
        ):
            html.Div(
                v_for="th in legend.thresholds",
                key="th.left",
                classes="twin-threshold",
                style=("{left: th.left}",),
                raw_attrs=[':title="th.label"'],
            )
        with html.Div(v_if="legend.gradient", classes="twin-ticks"):
            html.Span(
                "{{ tk.label }}",
                v_for="tk in legend.ticks",
                key="tk.left",
                classes="twin-tick",
                style=("{left: tk.left}",),
            )
        with html.Div(v_if="legend.thresholds.length", classes="twin-small"):
            html.Span("▮ {{ labels['legend.threshold'] }}: ")
            html.Span("{{ legend.thresholds.map(t => t.label).join(', ') }}")
        with (
            html.Div(classes="mt-1"),
            html.Span(
                v_for="sw in legend.swatches",
                key="sw.label",
                classes="twin-small mr-3",
                style="display:inline-block",
            ),
        ):
            html.Span(classes="twin-swatch", style=("{background: sw.color}",))
            html.Span("{{ sw.key ? labels[sw.key] : sw.label }}")


#: Scroll the side panel so that a newly selected card's top shows (it sits above the table):
#: a DOM observer, since Vue templates cannot reach ``document``.
SHOW_CARD_JS = """
(() => {
  let last = null;
  new MutationObserver(() => {
    const c = document.querySelector('[data-testid=info-card]');
    const key = c ? c.getAttribute('data-selection') : null;
    if (key === last) return;
    last = key;
    const p = c && c.closest('.twin-side');
    if (p) p.scrollTop += c.getBoundingClientRect().top - p.getBoundingClientRect().top - 8;
  }).observe(document.documentElement, {
    subtree: true, childList: true, attributes: true, attributeFilter: ['data-selection'],
  });
})();
"""


def _card(app: TwinApp) -> None:
    ctrl = app.server.controller
    client.Script(SHOW_CARD_JS)
    with html.Div(
        v_if="card",
        classes="twin-panel",
        raw_attrs=[
            'data-testid="info-card"',
            'role="region"',
            ':aria-label="card.title"',
            ":data-selection=\"selected_device + '/' + selected_row\"",  # a new pick, not a refresh
        ],
    ):
        with html.Div(style="display:flex; align-items:start"):
            with html.Div(style="flex:1"):
                html.Div("{{ card.subtitle }}", classes="twin-small")
                html.Div(
                    "{{ card.title }}",
                    classes="twin-text font-weight-bold",
                    raw_attrs=['data-testid="card-title"'],
                )
            v3.VBtn(
                icon="mdi-close",
                size="small",
                variant="text",
                click=ctrl.close_card,
                raw_attrs=[":aria-label=\"labels['app.close']\""],
            )
        with (
            html.Table(classes="twin-fields twin-text mt-1"),
            html.Tr(v_for="f in card.fields", key="f.label"),
        ):
            html.Td("{{ f.label }}")
            html.Td("{{ f.value }}", raw_attrs=[':data-field="f.label"'])
        html.Div("{{ card.no_sensors }}", v_if="card.no_sensors", classes="twin-small mt-1")
        with html.Div(v_if="card.sensors.length", classes="mt-2"):
            html.Div(
                "{{ card.readings_title }}",
                classes="twin-small font-weight-bold",
                raw_attrs=['data-testid="readings-title"'],
            )
            with (
                html.Table(classes="twin-fields twin-text twin-readings"),
                html.Tr(
                    v_for="s in card.sensors",
                    key="s.label",
                    classes=("s.stale ? 'twin-stale' : ''",),
                ),
            ):
                html.Td("{{ s.label }}")
                with html.Td():
                    html.Span(classes="twin-swatch", style=("{background: s.color}",))
                    html.Span("{{ s.value }}")
        with html.Div(v_if="card.charts.length", classes="mt-2"):
            html.Div("{{ card.history_title }}", classes="twin-small font-weight-bold")
            with html.Div(v_for="c in card.charts", key="c.title", classes="mt-1 twin-chart"):
                html.Div("{{ c.title }}", classes="twin-small")
                html.Div(v_html="c.svg", raw_attrs=['data-testid="chart"'])


def _sensor_table(app: TwinApp) -> None:
    trigger = f"trigger('{app.server.trigger_name(app.select_sensor)}', [r.device])"
    with html.Div(classes="twin-panel", raw_attrs=['data-testid="sensor-table"']):
        html.Div(
            "{{ labels['table.title'] }} ({{ sensors.length }})",
            classes="twin-text font-weight-bold mb-1",
        )
        html.Div("{{ labels['table.empty'] }}", v_if="!sensors.length", classes="twin-small")
        with html.Table(
            v_if="sensors.length",
            classes="twin-table",
            raw_attrs=[":aria-label=\"labels['table.title']\""],
        ):
            with html.Tr():
                html.Th("{{ labels['table.device'] }}")
                html.Th("{{ labels['table.quantity'] }}")
                html.Th("{{ labels['table.value'] }}")
            with html.Tr(
                v_for="r in sensors",
                key="r.key",
                classes=(
                    "'twin-row' + (r.device === selected_device"
                    " || (selected_row >= 0 && r.row === selected_row) ? ' twin-selected' : '')"
                    " + (r.stale ? ' twin-stale' : '')",
                ),
                raw_attrs=[
                    'tabindex="0"',
                    f'@click="{trigger}"',
                    f'@keydown.enter="{trigger}"',
                    f'@keydown.space.prevent="{trigger}"',
                    ':data-device="r.device"',
                ],
            ):
                html.Td("{{ r.name }}")
                html.Td("{{ r.quantity }}")
                with html.Td():
                    html.Div("{{ r.quantity }}", classes="twin-simple-only")
                    html.Span(classes="twin-swatch", style=("{background: r.color}",))
                    html.Span("{{ r.value }}")


def _timebar(app: TwinApp) -> None:
    ctrl = app.server.controller
    with html.Div(
        v_if="!kiosk",
        classes="twin-timebar",
        raw_attrs=['data-testid="timebar"', ':data-loading="history_loading"'],
    ):
        v3.VProgressCircular(
            v_if="history_loading",
            indeterminate=True,
            size=20,
            width=2,
            raw_attrs=[":aria-label=\"labels['app.loading']\"", 'data-testid="history-loading"'],
        )
        html.Span("{{ labels['time.title'] }}", classes="twin-text")
        v3.VBtn(
            icon=("playing ? 'mdi-pause' : 'mdi-play'",),
            size="small",
            click=ctrl.toggle_play,
            raw_attrs=[
                ":aria-label=\"playing ? labels['time.pause'] : labels['time.play']\"",
                'data-testid="play"',
            ],
        )
        with html.Div(
            style="flex: 1 1 auto",
            raw_attrs=[
                'role="group"',
                ":aria-label=\"labels['time.title']\"",
                'data-testid="time-slider"',
            ],
        ):
            v3.VSlider(
                v_model=("time_pos",),
                min=0,
                max=("time_steps",),
                step=1,
                hide_details=True,
                density="compact",
                color="primary",
                classes="mx-2",
            )
        html.Span(
            "{{ time_label }}",
            classes="twin-text",
            style="min-width: 150px",
            raw_attrs=['data-testid="time-label"', 'aria-live="polite"'],
        )
        v3.VBtn(
            "{{ labels['time.live'] }}",
            click=ctrl.go_live,
            disabled=("live",),
            color="red",
            variant="flat",
            size="small",
            raw_attrs=[":aria-label=\"labels['time.live']\"", 'data-testid="live"'],
        )


def _kiosk_overlays(app: TwinApp) -> None:
    with html.Div(v_if="kiosk", classes="twin-overlay-label"):
        html.Span(
            "{{ labels['app.synthetic'] }}",
            v_if="synthetic",
            classes="twin-synthetic",
            raw_attrs=['data-testid="synthetic-label"'],
        )
    with html.Div(v_if="kiosk", classes="twin-overlay-legend"):
        _legend(app)
    with html.Div(
        v_if="kiosk && caption",
        classes="twin-caption",
        raw_attrs=['data-testid="caption"', 'aria-live="polite"'],
    ):
        html.H2("{{ caption }}")
        html.Div("{{ v }}", v_for="v in caption_values", key="v")
