// e2e.mjs: the page of `mnist serve` in Debian's Chromium, headless, driven by playwright-core.
//
//   node tests/e2e/e2e.mjs MNIST_BIN MODEL UPLOAD.png UPLOAD_DIGIT OUT_DIR
//
// On a desktop-sized page: draws a 7 and a 1 with the mouse and checks the digit the page shows,
// clears, uploads a photo and checks its digit against `mnist predict`. On a phone-sized page:
// draws a 7 with a finger (touch events) and checks it, then a 1 with a second finger resting on
// the canvas meanwhile, then uploads a photo whose long name has no space. After an answer, an
// error (a file that is no image, a proxy's HTML page) leaves neither its bars nor its input on
// the screen; a server that never answers is said to be waited for, and a drawing after Clear is
// sent and waited for in its turn; JSON that is no prediction is said to be none; a photo over 10 MB
// stays refused. Photos drawn over (samples/): sent without the bands that square them on the pad;
// light ink in the alpha channel shown, and drawn over, on black. The Upload button's focus ring is
// the keyboard's; a tap leaves no hover shade; "Upload photo" on two lines (320 pixels) is centered.
// Screenshots go to OUT_DIR. Also:
// no request leaves the server's origin, no script error, nothing wider than the phone's screen,
// every text at WCAG AA's contrast (4.5) in the light and the dark color scheme.
// A photo the browser cannot show (PGM) is said to be so, and drawing to start afresh.
// Only the final answer is live for a screen reader, in short ('Read as 7, 98.1%').
// On short or landscape screens the pad fits the screen's height, and leaves the answer in view.
// A Fashion-MNIST model's page (its model and answers played): the '–' and '?' at one size, after an item's name too.
// Prints PASS/FAIL lines (tests/run.sh counts them); exits 1 if any check failed.
import { spawn, execFileSync } from "node:child_process";
import { copyFileSync, writeFileSync } from "node:fs";
import { chromium } from "playwright-core";

const [MNIST, MODEL, UPLOAD, UPLOAD_DIGIT, OUT] = process.argv.slice(2);
const CORNER = "samples/9-pen-corner.jpg"; // a 9 in a corner of grey paper, 400x300
const APP_DARK = "samples/8-app-dark.png"; // an 8 in white, its alpha the ink (a drawing app's dark mode)
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
let failed = 0;

function check(ok, name) {
  console.log((ok ? "PASS " : "FAIL ") + name);
  if (!ok) failed++;
  return ok;
}

function startServer() {
  return new Promise((resolve, reject) => {
    const p = spawn(MNIST, ["serve", "--model", MODEL, "--port", "0"], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error("no URL from mnist serve in 15 s")), 15000);
    p.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:\d+\//);
      if (m) { clearTimeout(timer); resolve({ proc: p, url: m[0], out: () => out }); }
    });
    p.on("exit", (code) => { clearTimeout(timer); reject(new Error(`mnist serve exited with status ${code}`)); });
  });
}

// Strokes in the canvas's own coordinates, 0..1.
const SEVEN = [[[0.24, 0.2], [0.5, 0.19], [0.76, 0.2]], [[0.76, 0.2], [0.62, 0.45], [0.5, 0.65], [0.42, 0.84]]];
const ONE = [[[0.52, 0.14], [0.51, 0.5], [0.5, 0.86]]];

async function canvasBox(page) {
  const b = await page.locator("#draw").boundingBox();
  return (p) => [b.x + p[0] * b.width, b.y + p[1] * b.height];
}

async function drawMouse(page, strokes) {
  const at = await canvasBox(page);
  for (const s of strokes) {
    await page.mouse.move(...at(s[0]));
    await page.mouse.down();
    for (const p of s.slice(1)) await page.mouse.move(...at(p), { steps: 12 });
    await page.mouse.up();
  }
}

async function drawTouch(page, cdp, strokes) {
  const at = await canvasBox(page);
  for (const s of strokes) {
    const [x0, y0] = at(s[0]);
    await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [{ x: x0, y: y0 }] });
    let prev = s[0];
    for (const p of s.slice(1)) {
      for (let i = 1; i <= 12; i++) {
        const q = [prev[0] + ((p[0] - prev[0]) * i) / 12, prev[1] + ((p[1] - prev[1]) * i) / 12];
        const [x, y] = at(q);
        await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: [{ x, y }] });
      }
      prev = p;
    }
    await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
  }
}

// Stroke s with finger 1 while finger 2 rests at `rest` the whole time (a palm, a second finger).
async function drawTwoFingers(page, cdp, s, rest) {
  const at = await canvasBox(page);
  const [bx, by] = at(rest);
  const a = (p) => { const [x, y] = at(p); return { x, y, id: 1 }; };
  const b = { x: bx, y: by, id: 2 };
  await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [a(s[0])] });
  await cdp.send("Input.dispatchTouchEvent", { type: "touchStart", touchPoints: [a(s[0]), b] });
  let prev = s[0];
  for (const p of s.slice(1)) {
    for (let i = 1; i <= 12; i++) {
      const q = [prev[0] + ((p[0] - prev[0]) * i) / 12, prev[1] + ((p[1] - prev[1]) * i) / 12];
      await cdp.send("Input.dispatchTouchEvent", { type: "touchMove", touchPoints: [a(q), b] });
    }
    prev = p;
  }
  await cdp.send("Input.dispatchTouchEvent", { type: "touchEnd", touchPoints: [] });
}

// What the page shows beside its digit: the longest bar (0..1 of its track) and the input's ink.
async function shown(page) {
  return page.evaluate(() => {
    let bar = 0;
    for (const e of document.querySelectorAll("#bars .fill"))
      bar = Math.max(bar, e.getBoundingClientRect().width / e.parentElement.getBoundingClientRect().width);
    const d = document.getElementById("seen").getContext("2d").getImageData(0, 0, 28, 28).data;
    let ink = 0;
    for (let i = 0; i < d.length; i += 4) ink += d[i + 3] > 0 && d[i] > 0;
    return { bar, ink };
  });
}

// WCAG's contrast of each text on the page against what is behind it, in the color scheme the page
// is shown in: [name, ratio], the lowest first. The texts are on flat colors (no image, no alpha).
async function contrasts(page) {
  return page.evaluate(() => {
    const rgb = (c) => c.match(/[\d.]+/g).slice(0, 3).map(Number);
    const lum = (c) => {
      const [r, g, b] = rgb(c).map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; });
      return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const behind = (e) => {
      for (; e; e = e.parentElement) {
        const c = getComputedStyle(e).backgroundColor;
        if (!/rgba\(.*, 0\)$/.test(c) && c !== "transparent") return c;
      }
      return "rgb(255, 255, 255)";
    };
    const texts = ["h1", "#model", "#hint", "#now", "#clear", "label.button", ".digit-label", "#digit", "#confidence",
      "figcaption", "#status", ".bars .name", ".pct", "footer"];
    return texts.map((sel) => {
      const e = document.querySelector(sel);
      const [a, b] = [lum(getComputedStyle(e).color), lum(behind(e))].sort((x, y) => y - x);
      return [sel, (a + 0.05) / (b + 0.05)];
    }).sort((x, y) => x[1] - y[1]);
  });
}

// The page's answer once no prediction is due or on its way, after at least `after` answers.
async function answer(page, after) {
  try {
    await page.waitForFunction(
      (n) => document.body.dataset.pending === "0" && Number(document.body.dataset.answers) > n, after,
      { timeout: 10000 });
  } catch (e) {
    const d = await page.evaluate(() => JSON.stringify(document.body.dataset));
    await page.screenshot({ path: `${OUT}/e2e-failure.png`, fullPage: true });
    throw new Error(`no answer from the page in 10 s (body data ${d}; see ${OUT}/e2e-failure.png)`);
  }
  return {
    digit: (await page.locator("#digit").textContent()).trim(),
    state: await page.evaluate(() => document.body.dataset.state),
    answers: await page.evaluate(() => Number(document.body.dataset.answers)),
    status: (await page.locator("#status").textContent()).trim(),
  };
}

function watch(page, origin, problems) {
  page.on("request", (r) => {
    const u = r.url();
    if (!u.startsWith(origin) && !u.startsWith("data:") && !u.startsWith("blob:")) problems.push("request to " + u);
  });
  page.on("pageerror", (e) => problems.push("script error: " + e.message));
  // a 400 from /api/predict while a stroke is under way (its start is a dot, no digit yet) is
  // expected: the page says "Keep drawing." (the final answer is checked); the browser still logs it
  page.on("console", (m) => {
    const drawing400 = / 400 /.test(m.text()) && /\/api\/predict(\?|$)/.test(m.location().url || "");
    if (m.type() === "error" && !drawing400) problems.push("console error: " + m.text());
  });
}

async function desktop(browser, url) {
  const problems = [];
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 }, reducedMotion: "reduce" });
  const page = await ctx.newPage();
  watch(page, url, problems);
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("model").textContent.includes("784"), null,
    { timeout: 10000 });
  check(true, "desktop: the page loads and shows the model (" +
    (await page.locator("#model").textContent()).trim() + ")");
  // WCAG AA: 4.5 for text (the Upload button's white on the dark scheme's light blue was 2.5, the hint 2.4)
  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    const low = (await contrasts(page)).filter((c) => c[1] < 4.5);
    check(low.length === 0, `desktop, ${scheme} scheme: every text has a contrast of at least 4.5` +
      (low.length ? ": " + low.map((c) => `${c[0]} ${c[1].toFixed(2)}`).join(", ") : ""));
  }
  await page.emulateMedia({ colorScheme: "light" });

  const posts = []; // each POST's query: a drawing says it is one (for a Fashion-MNIST model's outlines)
  page.on("request", (r) => { if (r.method() === "POST") posts.push(new URL(r.url()).search); });
  // what a screen reader is given to say: each new text of the page's live regions (the whole result card,
  // digit, percentages, status and 10 bars, was live, and rewritten with each answer while drawing)
  await page.evaluate(() => {
    const live = () => Array.from(document.querySelectorAll("[aria-live]"))
      .filter((e) => e.getAttribute("aria-live") !== "off")
      .map((e) => e.textContent.replace(/\s+/g, " ").trim()).join(" | ");
    let last = live();
    window.liveSaid = [];
    new MutationObserver(() => { const t = live(); if (t !== last) window.liveSaid.push(last = t); })
      .observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
  });
  await drawMouse(page, SEVEN);
  let a = await answer(page, 0);
  check(a.state === "ready" && a.digit === "7", `desktop: a 7 drawn with the mouse reads as ${a.digit} (${a.status})`);
  await page.waitForTimeout(1500); // an answer is given to a screen reader once it has stayed final a while
  const said = await page.evaluate(() => window.liveSaid);
  const conf = (await page.locator("#confidence").textContent()).replace(" sure", "");
  check(said.length === 1 && said[0] === `Read as 7, ${conf}`,
    `desktop: a screen reader is given the final answer alone, in short (${said.length} live updates; the last ` +
    `${JSON.stringify(said.at(-1) || "").slice(0, 120)})`);
  const bars = await page.locator("#bars .fill").evaluateAll((els) => els.map((e) =>
    e.getBoundingClientRect().width / e.parentElement.getBoundingClientRect().width));
  const top = Math.max(...bars);
  check(bars.length === 10 && bars.indexOf(top) === 7 && top > 0.5,
    `desktop: of 10 bars on the screen, 7's is the longest (${Math.round(100 * top)}% of its track)`);
  const sure = (await page.locator("#confidence").textContent()).replace(" sure", "");
  const topPct = await page.locator("#bars li.top .pct").textContent();
  check(sure === topPct, `desktop: the top bar says the line's ${sure} (${topPct})`);
  const ink = await page.evaluate(() => {
    const d = document.getElementById("seen").getContext("2d").getImageData(0, 0, 28, 28).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4) n += d[i] > 0;
    return n;
  });
  check(ink > 20 && ink < 400, `desktop: the 28x28 input is drawn (${ink} of 784 pixels of ink)`);
  await page.screenshot({ path: `${OUT}/e2e-desktop.png`, fullPage: true });

  await page.click("#clear");
  const cleared = (await page.locator("#digit").textContent()).trim();
  check(cleared === "\u2013" && (await page.evaluate(() => document.body.dataset.state)) === "idle",
    "desktop: Clear empties the answer");

  await drawMouse(page, ONE);
  a = await answer(page, a.answers);
  check(a.state === "ready" && a.digit === "1", `desktop: a 1 drawn with the mouse reads as ${a.digit} (${a.status})`);

  // chosen with the mouse, as a user does: the Upload button keeps no focus ring (Clear clicked has none;
  // it kept one, :focus-within), which it has when the keyboard reaches it
  const [chooser] = await Promise.all([page.waitForEvent("filechooser"), page.click("label.button")]);
  await chooser.setFiles(UPLOAD);
  a = await answer(page, a.answers);
  const ring = async () => page.evaluate(() => getComputedStyle(document.querySelector("label.button")).outlineStyle);
  const clicked = await ring();
  await page.click("#clear");
  await page.keyboard.press("Tab");
  const tabbed = await ring();
  check(clicked === "none" && tabbed === "solid",
    `desktop: the Upload button has a focus ring when Tab reaches it (${tabbed}), not once clicked (${clicked})`);
  await page.setInputFiles("#upload", UPLOAD);
  a = await answer(page, a.answers);
  check(a.state === "ready" && a.digit === UPLOAD_DIGIT,
    `desktop: the uploaded photo reads as ${a.digit}, as \`mnist predict\` reads it (${UPLOAD_DIGIT})`);
  await page.screenshot({ path: `${OUT}/e2e-desktop-upload.png`, fullPage: true });
  const drawnPosts = posts.slice(0, -2); // the photo uploaded twice, last
  check(drawnPosts.length > 0 && drawnPosts.every((q) => q === "?drawn=1") && posts.slice(-2).join() === ",",
    `desktop: the drawings are sent as such (?drawn=1), the uploaded photo not (${JSON.stringify(posts)})`);

  // drawn over, a photo is sent as the page shows it, and no more: a photo wider than tall was sent with
  // the white bands above and below it that make it square on the pad, and a pen's photo on grey paper
  // read as another digit (samples/9-pen-corner.jpg: a 5) whatever was drawn; a stroke in those bands
  // is outside the photo, and neither shown nor sent
  await page.setInputFiles("#upload", CORNER);
  a = await answer(page, a.answers);
  const corner = JSON.parse(execFileSync(MNIST, ["predict", "--model", MODEL, "--json", CORNER]).toString());
  check(a.digit === String(corner.digit), `desktop: ${CORNER} reads as ${a.digit}, as \`mnist predict\` reads it`);
  await drawMouse(page, [[[0.3, 0.04], [0.7, 0.04]]]);
  a = await answer(page, a.answers);
  check(a.state === "ready" && a.digit === String(corner.digit),
    `desktop: a stroke beside it (over the pad's band above it) leaves it read as ${a.digit} ` +
    `(\`mnist predict\`: ${corner.digit}; ${a.status})`);
  await page.screenshot({ path: `${OUT}/e2e-desktop-drawn-over.png`, fullPage: true });
  await page.click("#clear");

  // light ink kept in the alpha channel alone (samples/8-app-dark.png: white, its alpha the ink), as the
  // server reads it: on black (the pad showed it over white, blank); the pen then draws in white
  const pad = () => page.evaluate(() => {
    const c = document.getElementById("draw"), d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let light = 0, dark = 0;
    for (let i = 0; i < d.length; i += 4) (d[i] > 191 ? light++ : d[i] < 64 && dark++);
    return { light: light / (d.length / 4), dark: dark / (d.length / 4) };
  });
  await page.setInputFiles("#upload", APP_DARK);
  a = await answer(page, a.answers);
  await page.waitForFunction(() => document.getElementById("draw").getContext("2d").getImageData(0, 0, 1, 1).data[0] < 64,
    null, { timeout: 3000 }).catch(() => {});
  let p = await pad();
  check(a.state === "ready" && p.light > 0.01 && p.dark > 0.5,
    `desktop: ${APP_DARK}'s light ink is shown on black, as it is read (${(100 * p.light).toFixed(1)}% of the pad ` +
    `light, ${(100 * p.dark).toFixed(1)}% dark; read as ${a.digit})`);
  const before = p.light;
  await drawMouse(page, [[[0.1, 0.9], [0.3, 0.9]]]);
  a = await answer(page, a.answers);
  p = await pad();
  check(p.light > before + 0.005, `desktop: and a stroke over it is drawn in white (${(100 * before).toFixed(1)}% ` +
    `of the pad light before, ${(100 * p.light).toFixed(1)}% after)`);
  await page.screenshot({ path: `${OUT}/e2e-desktop-app-dark.png`, fullPage: true });
  await page.click("#clear");

  // a photo in a format the server reads and Chromium cannot show (PGM): the pad stayed blank, and drawing
  // on it dropped the photo without a word; the page says so, and still shows the server's reading
  const pgm = `${OUT}/one.pgm`, px = Buffer.alloc(56 * 56, 255);
  for (let y = 8; y < 48; y++) for (let x = 25; x < 31; x++) px[y * 56 + x] = 0;
  writeFileSync(pgm, Buffer.concat([Buffer.from("P5\n56 56\n255\n"), px]));
  const pgmRead = JSON.parse(execFileSync(MNIST, ["predict", "--model", MODEL, "--json", pgm]).toString());
  await page.setInputFiles("#upload", pgm);
  a = await answer(page, a.answers);
  await page.waitForTimeout(300); // the browser's attempt to decode it
  const hintShown = await page.evaluate(() => { const h = document.getElementById("hint"); return h.hidden ? "" : h.textContent; });
  check(a.state === "ready" && a.digit === String(pgmRead.digit) && /cannot be shown here/.test(a.status) &&
    /afresh/.test(a.status) && /cannot be shown here/.test(hintShown),
    `desktop: a PGM photo, which the browser cannot show, reads as ${a.digit} (\`mnist predict\`: ${pgmRead.digit}), ` +
    `and the page says it is not shown and drawing starts afresh (${a.status} / pad: ${hintShown})`);
  await page.screenshot({ path: `${OUT}/e2e-desktop-pgm.png`, fullPage: true });
  await page.click("#clear");

  check(problems.length === 0, "desktop: no request leaves the server, no script error" +
    (problems.length ? ": " + problems.join("; ") : ""));

  // errors after an answer (the browser logs each 4xx and 5xx: those are expected from here on)
  const junk = `${OUT}/not-an-image.png`;
  writeFileSync(junk, "this is text, not a picture\n");
  await page.setInputFiles("#upload", junk);
  a = await answer(page, a.answers);
  let s = await shown(page);
  check(a.state === "error" && a.digit === "?" && s.bar === 0 && s.ink === 0,
    `desktop: a file that is no image gives an error, and the last answer's bars and input go ` +
    `(${a.status}; longest bar ${s.bar.toFixed(2)}, ${s.ink} pixels of ink)`);
  await page.click("#clear");
  await drawMouse(page, [[[0.5, 0.5]]]); // a tap: a dot of the pen
  a = await answer(page, a.answers);
  check(a.state === "error" && a.digit === "?" && a.status.startsWith("No clear digit: ") && a.status.includes("blob"),
    `desktop: a tap on the pad is no digit: ${a.status}`);
  await page.waitForTimeout(1500);
  const saidTap = (await page.locator("[aria-live]").allTextContents()).join(" | ");
  check(saidTap === a.status, `desktop: and a screen reader is given that error: ${saidTap}`);
  // the pen resting where a stroke begins: that dot is sent, and is no error while the pen is down
  await page.click("#clear");
  const at = await canvasBox(page);
  await page.mouse.move(...at(ONE[0][0]));
  await page.mouse.down();
  a = await answer(page, a.answers);
  check(a.state === "busy" && a.status === "Keep drawing.",
    `desktop: the pen resting at a stroke's start is no error yet (${a.state}: ${a.status})`);
  for (const p of ONE[0].slice(1)) await page.mouse.move(...at(p), { steps: 12 });
  await page.mouse.up();
  a = await answer(page, a.answers);
  check(a.state === "ready" && a.digit === "1", `desktop: and the stroke then drawn reads as ${a.digit}`);
  await page.click("#clear");
  await page.route("**/api/predict*", (r) => r.fulfill({ status: 502, contentType: "text/html",
    body: "<html><body>Bad gateway</body></html>" }));
  await drawMouse(page, ONE);
  a = await answer(page, a.answers);
  check(a.state === "error" && a.status.includes("502"),
    `desktop: an answer that is not JSON (a proxy's 502 page) is said as such: ${a.status}`);
  await page.unroute("**/api/predict*");
  // JSON that is no prediction (another server on the port, a proxy's): said as such too (it was "No
  // answer from the server (Cannot read properties of undefined (reading 'length'))")
  await page.click("#clear");
  await page.route("**/api/predict*", (r) => r.fulfill({ status: 200, contentType: "application/json",
    body: '{"status": "ok"}' }));
  await drawMouse(page, ONE);
  a = await answer(page, a.answers);
  check(a.state === "error" && a.digit === "?" && a.status === "The server answered 200 OK, not a prediction",
    `desktop: an answer in JSON that is no prediction is said as such: ${a.status}`);
  await page.unroute("**/api/predict*");
  // a photo over 10 MB, chosen while a drawing's answer is on its way (a slow server: 1.5 s): its error
  // stays (the drawing's answer came after it and put the digit and "Keep drawing" in its place)
  await page.click("#clear");
  await page.route("**/api/predict*", async (r) => {
    await new Promise((ok) => setTimeout(ok, 1500));
    await r.continue().catch(() => {}); // dropped by the page meanwhile
  });
  await drawMouse(page, ONE);
  const huge = `${OUT}/huge.jpg`;
  writeFileSync(huge, Buffer.alloc(10 * 1024 * 1024 + 1));
  await page.setInputFiles("#upload", huge);
  await page.waitForTimeout(3000);
  a = { ...a, ...(await page.evaluate(() => ({ state: document.body.dataset.state,
    status: document.getElementById("status").textContent }))) };
  check(a.state === "error" && a.status.includes("over 10 MB"),
    `desktop: a photo over 10 MB chosen while a drawing is read is refused, and that stays said: ${a.status}`);
  await page.unroute("**/api/predict*");
  // a server that takes the request and never answers (stopped with Ctrl-Z): the page says that it
  // waits, then, the connection gone, that no answer came (a tap: one request, none queued behind it)
  await page.click("#clear");
  let held = null;
  await page.route("**/api/predict*", (r) => { held = r; });
  await drawMouse(page, [[[0.5, 0.5]]]);
  let waiting = "";
  try {
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Waiting"), null,
      { timeout: 10000 });
    waiting = (await page.locator("#status").textContent()).trim();
  } catch (e) { waiting = "(nothing said in 10 s: " + (await page.locator("#status").textContent()).trim() + ")"; }
  check(waiting.startsWith("Waiting for the server"),
    `desktop: a server that does not answer is waited for, and said so: ${waiting}`);
  if (held) await held.abort("connectionreset");
  a = await answer(page, a.answers);
  check(a.state === "error" && a.status.startsWith("No answer from the server"),
    `desktop: and the connection gone, the page says no answer came: ${a.status}`);
  await page.unroute("**/api/predict*");
  // Clear and a new drawing while the server still holds a request: the new drawing is sent at once
  // (the cleared one's answer is of no use) and waited for, said so (it waited unsent behind the held
  // request, "Draw a digit" on the screen under a digit drawn)
  await page.click("#clear");
  const holding = [];
  await page.route("**/api/predict*", (r) => { holding.push(r); });
  await drawMouse(page, [[[0.5, 0.5]]]);
  await page.waitForFunction(() => document.body.dataset.state === "busy", null, { timeout: 10000 });
  await page.click("#clear");
  await drawMouse(page, [[[0.5, 0.5]]]);
  waiting = "";
  try {
    await page.waitForFunction(() => document.getElementById("status").textContent.startsWith("Waiting"), null,
      { timeout: 10000 });
    waiting = (await page.locator("#status").textContent()).trim();
  } catch (e) { waiting = "(nothing said in 10 s: " + (await page.locator("#status").textContent()).trim() + ")"; }
  check(holding.length === 2 && waiting.startsWith("Waiting for the server"),
    `desktop: a drawing after Clear is sent while the cleared one's request is held (${holding.length} of 2 ` +
    `sent), and waited for: ${waiting}`);
  await page.unroute("**/api/predict*");
  for (const r of holding) await r.abort("connectionreset").catch(() => {}); // the page's own abort took the first
  await ctx.close();
}

async function phone(browser, url) {
  const problems = [];
  const ctx = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true,
    reducedMotion: "reduce", // bars at their final length in screenshots
  });
  const page = await ctx.newPage();
  watch(page, url, problems);
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("model").textContent.includes("784"), null,
    { timeout: 10000 });
  const cdp = await ctx.newCDPSession(page);
  await drawTouch(page, cdp, SEVEN);
  const a = await answer(page, 0);
  check(a.state === "ready" && a.digit === "7", `phone: a 7 drawn with a finger reads as ${a.digit} (${a.status})`);
  const fit = await page.evaluate(() => ({ w: document.documentElement.scrollWidth, v: window.innerWidth,
    scrollY: window.scrollY }));
  check(fit.w <= fit.v, `phone: nothing wider than the screen (${fit.w} <= ${fit.v} CSS pixels)`);
  check(fit.scrollY === 0, "phone: drawing does not scroll the page");
  const box = await page.locator("#draw").boundingBox();
  check(box.width >= 300 && Math.abs(box.width - box.height) < 1,
    `phone: the canvas is square and nearly screen-wide (${Math.round(box.width)}x${Math.round(box.height)})`);
  await page.screenshot({ path: `${OUT}/e2e-phone.png`, fullPage: true });
  // a tap leaves the finger's last place :hover (a touch screen has no hover): Clear stayed shaded after it
  await page.tap("#clear");
  const shade = await page.evaluate(() => getComputedStyle(document.getElementById("clear")).filter);
  check(shade === "none", `phone: Clear tapped is not left shaded as under a mouse (filter ${shade})`);
  await drawTwoFingers(page, cdp, ONE[0], [0.85, 0.85]);
  const b = await answer(page, a.answers);
  check(b.state === "ready" && b.digit === "1",
    `phone: a 1 drawn with a second finger resting on the canvas reads as ${b.digit} (${b.status})`);
  await page.screenshot({ path: `${OUT}/e2e-phone-two-fingers.png`, fullPage: true });
  // a file's name is shown as it is: a long one with no space wraps, not widening the page past the screen
  const named = `${OUT}/a_photo_of_my_digit_taken_on_the_kitchen_table_at_night_0123456789abcdef0123456789.png`;
  copyFileSync(UPLOAD, named);
  await page.setInputFiles("#upload", named);
  const c = await answer(page, b.answers);
  const wide = await page.evaluate(() => ({ w: document.documentElement.scrollWidth, v: window.innerWidth }));
  check(c.state === "ready" && c.status.includes("kitchen_table") && wide.w <= 390 && wide.v <= 390,
    `phone: a photo's long name wraps within the screen (${wide.w} CSS pixels of content, a viewport of ${wide.v})`);
  // on a small phone (320 CSS pixels) "Upload photo" takes two lines: each centered in its button, as
  // one line is (they were flush left, the second under the first's start)
  await page.setViewportSize({ width: 320, height: 568 });
  const off = await page.evaluate(() => {
    const label = document.querySelector("label.button"), r = label.getBoundingClientRect();
    const range = document.createRange();
    range.selectNodeContents(label.firstChild);
    return Array.from(range.getClientRects()).map((l) => (l.left + l.right) / 2 - (r.left + r.right) / 2);
  });
  check(off.length >= 1 && off.every((d) => Math.abs(d) < 2),
    `phone, 320 CSS pixels: each of the Upload button's ${off.length} lines is centered in it ` +
    `(${off.map((d) => d.toFixed(1)).join(", ")} CSS pixels off)`);
  await page.screenshot({ path: `${OUT}/e2e-phone-320.png`, fullPage: true });
  check(problems.length === 0, "phone: no request leaves the server, no script error" +
    (problems.length ? ": " + problems.join("; ") : ""));
  await ctx.close();
}

// A photo the browser cannot show (PGM) is said to be so, and drawing to start afresh.
// Only the final answer is live for a screen reader, in short ('Read as 7, 98.1%').
// Short or landscape screens (a phone on its side, a small window, a small phone): the pad, square, and its
// buttons fit the screen's height, and scrolled into full view they leave the answer in view beside or below,
// which a 7 drawn there then shows (the pad was as wide as its column: 644 pixels tall in a 500-pixel view,
// 375 in a 390-pixel one, and on a 320x568 phone the answer was below the screen's bottom while drawing)
async function screens(browser, url) {
  for (const [width, height] of [[844, 390], [932, 430], [700, 500], [568, 320], [320, 568]]) {
    const ctx = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 2, isMobile: true,
      hasTouch: true, reducedMotion: "reduce" });
    const page = await ctx.newPage();
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById("model").textContent.includes("784"), null,
      { timeout: 10000 });
    // scrolled as little as shows the whole pad and its buttons (8 pixels below them): where are the pad and
    // the answer?
    const view = () => page.evaluate(() => {
      const pad = document.getElementById("draw"), now = document.getElementById("now");
      const shown = now && getComputedStyle(now).display !== "none" ? now : document.getElementById("digit");
      const end = document.getElementById("clear").getBoundingClientRect().bottom;
      window.scrollTo(0, Math.max(0, end + window.scrollY + 8 - window.innerHeight));
      const p = pad.getBoundingClientRect(), d = shown.getBoundingClientRect();
      return { w: p.width, h: p.height, top: p.top, bottom: document.getElementById("clear").getBoundingClientRect().bottom,
               ansTop: d.top, ansBottom: d.bottom, text: shown.textContent.trim(), view: window.innerHeight };
    });
    // a phone on its side (844x390, 932x430): the pad, its buttons and all ten bars in one screen, unscrolled
    // (they ended at 473 and 537 of 390, and a drag on the pad does not scroll)
    if (width > height && height >= 360) {
      const fit = await page.evaluate(() => {
        window.scrollTo(0, 0);
        const bars = document.querySelectorAll("#bars li");
        return { buttons: document.getElementById("clear").getBoundingClientRect().bottom,
                 bars: bars.length ? bars[bars.length - 1].getBoundingClientRect().bottom : Infinity };
      });
      check(fit.buttons <= height && fit.bars <= height,
        `${width}x${height}: unscrolled, the pad's buttons end at ${Math.round(fit.buttons)} and the bars at ` +
        `${Math.round(fit.bars)}, within the screen's ${height}`);
    }
    let v = await view();
    const cdp = await ctx.newCDPSession(page);
    let a = { digit: "(no answer: the pad off the screen)" };
    try {
      await drawTouch(page, cdp, SEVEN);
      a = await answer(page, 0);
    } catch (e) { /* said below (a touch off the screen: the page may have gone back in history) */ }
    v = { ...(a.answers ? await view() : v), before: v };
    await page.screenshot({ path: `${OUT}/e2e-screen-${width}x${height}.png` });
    const b = v.before;
    check(Math.abs(b.w - b.h) < 1 && b.top >= 0 && b.bottom <= b.view && b.ansTop >= 0 && b.ansBottom <= b.view &&
      a.digit === "7" && v.text.includes("7") && v.ansTop >= 0 && v.ansBottom <= v.view,
      `${width}x${height}: the pad (${Math.round(b.w)}x${Math.round(b.h)}) and its buttons fit the screen's height, and ` +
      `scrolled into full view (${Math.round(b.top)} to ${Math.round(b.bottom)}) leave the answer in view ` +
      `(${Math.round(b.ansTop)} to ${Math.round(b.ansBottom)}), a 7 drawn there said in it (${a.digit}: ` +
      `${JSON.stringify(v.text)})`);
    // an error's long line under the pad (one line, cut) leaves the page as wide as the screen (it widened the
    // column past the screen's edge)
    await page.click("#clear");
    await drawTouch(page, cdp, [[[0.5, 0.5]]]);
    const e = await answer(page, 0);
    const wide = await page.evaluate(() => document.documentElement.scrollWidth);
    check(e.state === "error" && wide <= width,
      `${width}x${height}: after an error (${e.status.slice(0, 40)}...) the page is ${wide} CSS pixels wide, as the screen`);
    await ctx.close();
  }
}

// A Fashion-MNIST model's page, its model and answers played by the test (a bag, 76.8%; an error): the
// '\u2013' before any answer, after Clear and the '?' of an error are the same size (after an item's name,
// in the name's smaller size, they stayed small)
const CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
async function fashion(browser, url) {
  const ctx = await browser.newContext({ viewport: { width: 1100, height: 760 }, reducedMotion: "reduce" });
  const page = await ctx.newPage();
  await page.route("**/api/model", (r) => r.fulfill({ contentType: "application/json", body: JSON.stringify({
    layers: [784, 256, 10], activation: "relu", dataset: "fashion", classes: CLASSES, parameters: 203530,
    preprocess: "fashion" }) }));
  let answer400 = false;
  await page.route("**/api/predict*", (r) => r.fulfill(answer400
    ? { status: 400, contentType: "application/json", body: JSON.stringify({ error: "no clear item: a test's" }) }
    : { contentType: "application/json", body: JSON.stringify({ digit: 8, class: "Bag",
        probabilities: CLASSES.map((c, i) => (i === 8 ? 0.768 : 0.232 / 9)), input: new Array(784).fill(0) }) }));
  await page.goto(url);
  await page.waitForFunction(() => document.getElementById("model").textContent.includes("Fashion"), null,
    { timeout: 10000 });
  const size = () => page.evaluate(() => getComputedStyle(document.getElementById("digit")).fontSize);
  const first = await size();
  await drawMouse(page, ONE);
  let a = await answer(page, 0);
  const item = await size();
  await page.click("#clear");
  const cleared = await size();
  answer400 = true;
  await drawMouse(page, ONE);
  a = await answer(page, a.answers);
  const error = await size();
  check(a.digit === "?" && cleared === first && error === first && item !== first,
    `fashion: the '\u2013' after Clear and an error's '?' are as large as the '\u2013' before any answer (${first}): ` +
    `${cleared} and ${error} (an item's name: ${item})`);
  await ctx.close();
}

async function main() {
  const expected = JSON.parse(execFileSync(MNIST, ["predict", "--model", MODEL, "--json", UPLOAD]).toString());
  check(String(expected.digit) === UPLOAD_DIGIT,
    `the model reads the photo to upload as its label (${expected.digit}, label ${UPLOAD_DIGIT})`);
  const server = await startServer();
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"],
    });
    await desktop(browser, server.url);
    await phone(browser, server.url);
    await fashion(browser, server.url);
    await screens(browser, server.url);
  } catch (e) {
    check(false, "the browser run finished: " + e.message.split("\n")[0]);
  } finally {
    if (browser) await browser.close();
    const stopped = new Promise((resolve) => server.proc.on("exit", (code) => resolve(code)));
    server.proc.kill("SIGINT");
    const code = await Promise.race([stopped, new Promise((r) => setTimeout(() => r("timeout"), 10000))]);
    check(code === 0, `the server stops on SIGINT (status ${code})`);
  }
  console.log(`screenshots: ${OUT}/e2e-desktop.png ${OUT}/e2e-desktop-upload.png ${OUT}/e2e-phone.png`);
  process.exit(failed ? 1 : 0);
}

main().catch((e) => { check(false, "e2e: " + e.message); process.exit(1); });
