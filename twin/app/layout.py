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
from trame.widgets.vtk import VtkRemoteView

from twin.app import picking
from twin.app.kiosk import RECONNECT_JS
from twin.app.stylesheet import CSS

if TYPE_CHECKING:
    from twin.app.app import TwinApp


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
        from twin.app import local_view  # trame-pyvista (and ipywidgets): only for this mode

        # vtk.js picks in the browser; a drag (press and release apart) is not a click
        moved = "Math.hypot(view_up[0] - view_down[0], view_up[1] - view_down[1])"
        view = local_view.LocalView(
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
        # trame-vtk's view on the plotter's render window (trame-pyvista's wrapper adds
        # nothing the app uses, and importing it costs ~0.2 s of start-up: ipywidgets)
        view = VtkRemoteView(
            app.plotter.render_window,
            ref="view_twin",
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
