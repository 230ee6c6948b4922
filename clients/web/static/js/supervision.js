/* The supervision room's charts: each .chart[data-src] is drawn with Apache ECharts from the
   JSON its data-src answers (no inline script: the CSP forbids it). Tooltips are drawn on the
   canvas (renderMode "richText"), not as HTML with inline style, which the CSP would block.
   When a chart is drawn its element gets data-rendered="<number of series>". */
(function () {
  "use strict";

  function months() {
    var select = document.getElementById("f-months");
    return select ? select.value : "12";
  }

  function showError(text) {
    var box = document.getElementById("chart-error");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = !text;
  }

  function draw(element, data) {
    var metric = element.getAttribute("data-metric");
    var chart = echarts.getInstanceByDom(element) || echarts.init(element, null, { renderer: "canvas" });
    var series = data.series.map(function (s) {
      return { name: s.name, type: "line", connectNulls: false, symbolSize: 7, data: s[metric] };
    });
    chart.setOption({
      animation: false,
      textStyle: { fontFamily: "Noto Sans CJK SC, sans-serif" },
      tooltip: { trigger: "axis", renderMode: "richText", valueFormatter: function (v) { return v == null ? "—" : v + "%"; } },
      legend: { type: "scroll", bottom: 0 },
      grid: { left: 48, right: 16, top: 16, bottom: 56 },
      xAxis: { type: "category", data: data.months },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: series
    }, true);
    element.setAttribute("data-rendered", String(series.length));
  }

  function load() {
    var charts = document.querySelectorAll(".chart[data-src]");
    if (!charts.length || typeof echarts === "undefined") { return; }
    var url = charts[0].getAttribute("data-src") + "?months=" + encodeURIComponent(months());
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      })
      .then(function (data) {
        showError("");
        charts.forEach(function (element) { draw(element, data); });
      })
      .catch(function (error) {
        showError("趋势图暂时无法加载（" + error.message + "），请稍后刷新。 The charts could not be loaded; reload later.");
      });
  }

  /* A partial that fails (the services down: a 503 page) is not swapped in by htmx; say so
     beside it, and clear the message when a later refresh works again. */
  function partialFailed(event) {
    var target = event.detail && event.detail.target;
    if (!target || !target.id || target.id.indexOf("sv-") !== 0) { return; }
    var note = document.getElementById(target.id + "-down");
    if (!note) {
      note = document.createElement("p");
      note.id = target.id + "-down";
      note.className = "flash flash-error";
      note.setAttribute("role", "alert");
      target.parentNode.insertBefore(note, target);
    }
    note.textContent = "服务暂时不可用，显示的是上次的数据，稍后自动重试。 The services are unavailable: showing the last figures; retrying shortly.";
  }

  function partialWorked(event) {
    var target = event.detail && event.detail.target;
    if (!target || !target.id) { return; }
    var note = document.getElementById(target.id + "-down");
    if (note) { note.remove(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    load();
    var select = document.getElementById("f-months");
    if (select) { select.addEventListener("change", load); }
    window.addEventListener("resize", function () {
      document.querySelectorAll(".chart[data-rendered]").forEach(function (element) {
        var chart = echarts.getInstanceByDom(element);
        if (chart) { chart.resize(); }
      });
    });
    document.body.addEventListener("htmx:responseError", partialFailed);
    document.body.addEventListener("htmx:sendError", partialFailed);
    document.body.addEventListener("htmx:afterSwap", partialWorked);
  });
})();
