#!/usr/bin/env python3
"""Checks an HTML report as a real browser draws it (headless Chromium), at a desktop and a phone width:

- no two texts of a chart overlap, and none is cut off by its chart (the SVG text boxes as laid out);
- no prediction band reaches below zero, and no axis of a chart with a band shows a negative tick;
- every chart over periods (months, quarters) has a point for every period from its first to its last, and its x
  labels are in order and evenly thinned;
- every text meets WCAG AA contrast against what is behind it (4.5:1; 3:1 for large text), SVG text against the
  shape under it.

Then, with --png, a screenshot of the whole page (its measured height) that must not be blank in any quarter of its
height; with --pdf, the page printed to PDF (at least one page).

Usage: check-report.py REPORT.html [--png OUT.png] [--pdf OUT.pdf]   (standard library only; CHROMIUM overrides the browser)
Exit 0 when every check passes; 1 with the problems listed otherwise.
"""
import html, json, os, re, shutil, struct, subprocess, sys, tempfile, zlib

CHECKER = r"""
<script>
(function () {
  const problems = [];
  function parse(c) {
    if (!c) return null;
    let m = c.match(/rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/);
    if (m) return [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]];
    m = c.match(/^#([0-9a-f]{6})$/i);
    if (m) { const v = parseInt(m[1], 16); return [v >> 16 & 255, v >> 8 & 255, v & 255, 1]; }
    if (c === 'white') return [255, 255, 255, 1];
    if (c === 'none' || c === 'transparent') return null;
    return null;
  }
  function over(top, below) {  // alpha-composite top over an opaque colour
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + below[i] * (1 - a)).concat([1]);
  }
  function lum(c) {
    const ch = c.slice(0, 3).map(v => { v /= 255; return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); });
    return 0.2126 * ch[0] + 0.7152 * ch[1] + 0.0722 * ch[2];
  }
  function contrast(a, b) { const x = lum(a), y = lum(b); return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05); }
  function htmlBackground(el) {
    const stack = [];
    for (let e = el; e && e.nodeType === 1; e = e.parentElement) {
      const c = parse(getComputedStyle(e).backgroundColor);
      if (c && c[3] > 0) { stack.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (let i = stack.length - 1; i >= 0; i--) bg = over(stack[i], bg);
    return bg;
  }
  function shapeFill(el) {
    const s = getComputedStyle(el);
    const c = parse(s.fill);
    if (!c) return null;
    c[3] = c[3] * parseFloat(s.fillOpacity || '1') * parseFloat(s.opacity || '1');
    return c;
  }
  function title(el) {
    const sec = el.closest('section');
    const h = sec && sec.querySelector('h2');
    return h ? h.textContent : '(page)';
  }
  const charts = [];
  document.querySelectorAll('svg.chart').forEach(svg => {
    const name = title(svg);
    const box = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll('text')].map(t => ({ t, r: t.getBoundingClientRect(), s: t.textContent }));
    for (let i = 0; i < texts.length; i++) {
      const a = texts[i].r;
      if (a.left < box.left - 1 || a.right > box.right + 1 || a.top < box.top - 1 || a.bottom > box.bottom + 1)
        problems.push(`${name}: '${texts[i].s}' is cut off by the chart's edge`);
      for (let j = i + 1; j < texts.length; j++) {
        const b = texts[j].r;
        const w = Math.min(a.right, b.right) - Math.max(a.left, b.left), h = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
        if (w > 0.5 && h > 0.5) problems.push(`${name}: '${texts[i].s}' and '${texts[j].s}' overlap`);
      }
    }
    // Bands: never below the zero line; no negative tick on a chart with a band.
    const bands = [...svg.querySelectorAll('polygon')].filter(p => (p.textContent || '').includes('interval'));
    if (bands.length) {
      const ticks = texts.filter(x => x.t.getAttribute('text-anchor') === 'end' && /^[-−]?[$€£¥]?[\d.,]+[kM%]?$/.test(x.s.replace(/\s/g, '')));
      for (const x of ticks) if (/^[-−]/.test(x.s)) problems.push(`${name}: the axis shows a negative value (${x.s}) for a band`);
      const zero = ticks.find(x => /^[$€£¥]?0$/.test(x.s.replace(/\s/g, '')));
      if (zero) {
        const zy = (zero.r.top + zero.r.bottom) / 2;
        for (const p of bands) if (p.getBoundingClientRect().bottom > zy + 6) problems.push(`${name}: the prediction band reaches below zero`);
      }
    }
    // Periods: a point for every period, labels in order.
    const period = svg.getAttribute('data-period');
    if (period) {
      const first = svg.getAttribute('data-first'), n = +svg.getAttribute('data-periods');
      const months = { month: 1, quarter: 3, year: 12 }[period];
      const seen = new Set([...svg.querySelectorAll('circle[data-x]')].map(c => c.getAttribute('data-x')));
      const [y0, m0] = first.split('-').map(Number);
      const expected = [];
      for (let i = 0; i < n; i++) {
        const t = (y0 * 12 + m0 - 1) + i * months;
        expected.push(`${Math.floor(t / 12)}-${String(t % 12 + 1).padStart(2, '0')}-01`);
      }
      const missing = expected.filter(p => !seen.has(p));
      if (missing.length) problems.push(`${name}: no point for ${missing.join(', ')}`);
      const labels = [...svg.querySelectorAll('text.x-label')].map(t => t.getBoundingClientRect().left);
      for (let i = 1; i < labels.length; i++) if (labels[i] <= labels[i - 1]) problems.push(`${name}: x labels out of order`);
      charts.push({ name, period, points: seen.size, periods: n, labels: labels.length });
    }
  });
  // Contrast of every text: HTML text against its background, SVG text against the shape under its centre.
  let checked = 0;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (!n.textContent.trim()) continue;
    const el = n.parentElement;
    if (!el || seen.has(el) || el.closest('title') || el.tagName === 'SCRIPT' || el.tagName === 'STYLE' || el.id === 'crmflow-check') continue;
    seen.add(el);
    // NB: elementsFromPoint sees only the viewport: bring the text into it first.
    if (el instanceof SVGElement) el.scrollIntoView({ block: 'center', inline: 'center' });
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    let fg, bg;
    const s = getComputedStyle(el);
    if (el instanceof SVGElement) {
      fg = parse(s.fill);
      if (!fg) continue;
      bg = [255, 255, 255, 1];
      const cx = (r.left + r.right) / 2, cy = (r.top + r.bottom) / 2;
      const under = document.elementsFromPoint(cx, cy).filter(e => e !== el && e instanceof SVGGeometryElement && !(e instanceof SVGLineElement));
      const stack = [];
      for (const e of under) { const f = shapeFill(e); if (f && f[3] > 0) { stack.push(f); if (f[3] >= 1) break; } }
      if (!stack.length || stack[stack.length - 1][3] < 1) { const page = htmlBackground(el.ownerSVGElement); stack.push(page); }
      for (let i = stack.length - 1; i >= 0; i--) bg = over(stack[i], bg);
    } else {
      fg = parse(s.color);
      bg = htmlBackground(el);
    }
    fg = over(fg, bg);
    const size = parseFloat(s.fontSize), bold = parseInt(s.fontWeight) >= 700;
    const need = size >= 24 || (bold && size >= 18.66) ? 3 : 4.5;
    const c = contrast(fg, bg);
    checked++;
    if (c < need) problems.push(`${title(el)}: '${n.textContent.trim().slice(0, 40)}' has contrast ${c.toFixed(2)}:1 (needs ${need}:1)`);
  }
  const pre = document.createElement('pre');
  pre.id = 'crmflow-check';
  pre.textContent = JSON.stringify({ height: document.documentElement.scrollHeight, charts, texts: checked, problems });
  document.body.appendChild(pre);
})();
</script>
"""


def browser():
    for name in [os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]:
        if name and shutil.which(name):
            return shutil.which(name)
    sys.exit("check-report: no Chromium found (install Debian's chromium, or set CHROMIUM)")


def chromium(profile, *args):
    cmd = [browser(), "--headless=new", "--disable-gpu", "--hide-scrollbars", f"--user-data-dir={profile}"]
    if os.geteuid() == 0:
        cmd.append("--no-sandbox")  # root cannot start Chromium's sandbox
    r = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=180)
    if r.returncode != 0:
        sys.exit(f"check-report: chromium failed ({r.returncode}):\n{r.stderr[-2000:]}")
    return r.stdout


def measure(page, profile, width):
    dom = chromium(profile, f"--window-size={width},1000", "--virtual-time-budget=5000", "--dump-dom", "file://" + page)
    m = re.search(r'<pre id="crmflow-check">(.*?)</pre>', dom, re.S)
    if not m:
        sys.exit("check-report: the checker did not run in the page")
    return json.loads(html.unescape(m.group(1)))


def png_rows_not_blank(path, width, height):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return [f"{path}: not a PNG"]
    w, h = struct.unpack(">II", data[16:24])
    problems = []
    if (w, h) != (width, height):
        problems.append(f"{path}: {w}x{h}, expected {width}x{height} (the whole page)")
    idat, i = b"", 8
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        if kind == b"IDAT":
            idat += data[i + 8:i + 8 + n]
        i += 12 + n
    raw = zlib.decompress(idat)
    stride = len(raw) // h
    for q in range(4):
        values = set()
        for row in range(q * h // 4, (q + 1) * h // 4, 5):
            values.update(raw[row * stride + 1:(row + 1) * stride:7])
            if len(values) > 24:
                break
        if len(values) <= 8:
            problems.append(f"{path}: quarter {q + 1} of the page looks blank")
    return problems


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    report = os.path.realpath(args[0])
    png = args[args.index("--png") + 1] if "--png" in args else None
    pdf = args[args.index("--pdf") + 1] if "--pdf" in args else None
    tmp = tempfile.mkdtemp(prefix="crmflow-check-")
    try:
        source = open(report, encoding="utf-8").read()
        if "</body>" not in source:
            sys.exit(f"check-report: {report} has no </body>")
        page = os.path.join(tmp, "report.html")
        with open(page, "w", encoding="utf-8") as f:
            f.write(source.replace("</body>", CHECKER + "</body>"))
        problems, height = [], None
        for width in (1100, 420):
            result = measure(page, os.path.join(tmp, "profile"), width)
            problems += [f"at {width} px: {p}" for p in result["problems"]]
            if width == 1100:
                height = result["height"]
                charts = result["charts"]
                texts = result["texts"]
        listed = ", ".join("%s: %d/%d %ss" % (c["name"], c["points"], c["periods"], c["period"]) for c in charts)
        print(f"{report}: {len(charts)} period charts ({listed}), "
              f"{texts} texts checked for contrast, page {height} px high")
        if png:
            shot = os.path.join(tmp, "shot.png")
            chromium(os.path.join(tmp, "profile"), f"--window-size=1100,{height}", f"--screenshot={shot}", "file://" + report)
            problems += png_rows_not_blank(shot, 1100, height)
            shutil.move(shot, png)
            print(f"rendered the whole page to {png} (1100x{height})")
        if pdf:
            out = os.path.join(tmp, "report.pdf")
            chromium(os.path.join(tmp, "profile"), "--no-pdf-header-footer", f"--print-to-pdf={out}", "file://" + report)
            body = open(out, "rb").read()
            pages = len(re.findall(rb"/Type\s*/Page[^s]", body))
            if not body.startswith(b"%PDF") or pages < 1:
                problems.append(f"{pdf}: not a PDF with pages")
            shutil.move(out, pdf)
            print(f"printed to {pdf} ({pages} pages)")
        for p in problems:
            print("problem: " + p, file=sys.stderr)
        if problems:
            sys.exit(1)
        print("report checks passed")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


main()
