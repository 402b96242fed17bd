// Simplified Chinese and English: strings, the chosen language (remembered), and
// dates, numbers, money and areas by locale.
//
// Each page module registers its own strings, kept in a catalogue beside it
// (pages/<page>.strings.js: {en: {...}, zh: {...}}), with registerStrings(strings),
// so no module edits another's dictionary. t(key, vars) fills {name} placeholders;
// a key missing in the chosen language falls back to English, then to the key itself.

const STORE_KEY = "agri.lang";
const LANGS = ["zh", "en"];
const dictionaries = { en: {}, zh: {} };

/** Add strings to the dictionaries: registerStrings({en: {key: "..."}, zh: {key: "..."}}). */
export function registerStrings(strings) {
  for (const lang of LANGS) {
    Object.assign(dictionaries[lang], strings[lang] || {});
  }
}

function initialLang() {
  const saved = localStorage.getItem(STORE_KEY);
  if (LANGS.includes(saved)) return saved;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh" : "en";
}

let lang = initialLang();

/** The chosen language: "zh" or "en". */
export function getLang() {
  return lang;
}

/** The BCP 47 locale of the chosen language, for Intl. */
export function locale() {
  return lang === "zh" ? "zh-CN" : "en-GB";
}

/** Choose the language, remember it, set <html lang>, and tell the page ("langchange"). */
export function setLang(next) {
  if (!LANGS.includes(next)) throw new Error(`unknown language ${next}`);
  const changed = next !== lang;
  lang = next;
  localStorage.setItem(STORE_KEY, next);
  document.documentElement.lang = next === "zh" ? "zh-CN" : "en";
  if (changed) window.dispatchEvent(new CustomEvent("langchange", { detail: next }));
}

/** The string `key` in the chosen language, with {name} placeholders filled from vars. */
export function t(key, vars = {}) {
  const text = dictionaries[lang][key] ?? dictionaries.en[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name]) : m));
}

/** A date (Date, ISO datetime, or "YYYY-MM-DD", which is a calendar day) by locale. */
export function fmtDate(value) {
  if (value === null || value === undefined || value === "") return "";
  const dayOnly = typeof value === "string" && /^\d{4}-\d{2}-\d{2}$/.test(value);
  const d = value instanceof Date ? value : new Date(dayOnly ? `${value}T00:00:00Z` : value);
  if (Number.isNaN(d.getTime())) return String(value);
  const opts = { year: "numeric", month: "short", day: "numeric" };
  if (dayOnly) opts.timeZone = "UTC";
  return new Intl.DateTimeFormat(locale(), opts).format(d);
}

/** A date and time by locale, in the browser's time zone. */
export function fmtDateTime(value) {
  if (!value) return "";
  const d = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return new Intl.DateTimeFormat(locale(), {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  }).format(d);
}

/** A number by locale, with at most `digits` decimals (and at least `min`). */
export function fmtNumber(value, digits = 2, min = 0) {
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isFinite(n)) return String(value ?? "");
  return new Intl.NumberFormat(locale(), {
    maximumFractionDigits: digits,
    minimumFractionDigits: Math.min(min, digits),
  }).format(n);
}

const CURRENCY_WORDS = { zh: { CNY: "元" }, en: {} };

/** Money as a plain phrase: "7,400 CNY" in English, "7,400 元" in Chinese (cents when there are any). */
export function fmtMoney(amount, currency = "CNY") {
  const n = Number(amount);
  const cents = Number.isFinite(n) && Math.round(n * 100) % 100 !== 0;
  const number = fmtNumber(n, 2, cents ? 2 : 0);
  const unit = CURRENCY_WORDS[lang][currency] ?? currency;
  return `${number} ${unit}`;
}

export const M2_PER_HA = 10000;
export const M2_PER_MU = 10000 / 15; // 1 mu = 1/15 ha, about 666.67 m²

/** An area in both units: "1.23 ha (18.45 mu)" in English, "18.45 亩（1.23 公顷）" in Chinese. */
export function fmtArea(m2) {
  const n = Number(m2);
  if (!Number.isFinite(n)) return "";
  const ha = fmtNumber(n / M2_PER_HA, 2, 2);
  const mu = fmtNumber(n / M2_PER_MU, 2, 2);
  return lang === "zh" ? `${mu} 亩（${ha} 公顷）` : `${ha} ha (${mu} mu)`;
}

// The shell's own strings.
registerStrings({
  en: {
    "app.title": "Agricultural insurance",
    "app.skip": "Skip to content",
    "app.language": "Language",
    "app.logout": "Log out",
    "app.signed_in": "{username} ({role})",
    "app.loading": "Loading…",
    "app.not_available": "This page is not available yet.",
    "app.no_page": "There is no page for your role ({role}) yet: use the API or the agri command.",
    "app.agent_app": "Field agents capture animals and claim evidence in the phone app:",
    "app.not_allowed": "Your role ({role}) may not open this page.",
    "app.error": "Something went wrong: {detail}",
    "login.title": "Log in",
    "login.username": "Username",
    "login.password": "Password",
    "login.submit": "Log in",
    "login.failed": "Login failed: {detail}",
    "login.expired": "Your session ended: please log in again.",
    "role.admin": "administrator",
    "role.underwriter": "underwriter",
    "role.adjuster": "claims adjuster",
    "role.field_agent": "field agent",
    "role.farmer": "farmer",
    "page.underwriter": "Applications",
    "page.adjuster": "Claims",
    "page.farmer": "My insurance",
    "page.admin": "Administration",
    "nav.label": "Pages",
    "table.prev": "Previous",
    "table.next": "Next",
    "table.range": "{from}–{to} of {total}",
    "table.empty": "Nothing here yet.",
    "table.pages": "Pages of {caption}",
    "light.green": "Green",
    "light.amber": "Amber",
    "light.red": "Red",
    "light.none": "No light",
    "toast.close": "Dismiss",
  },
  zh: {
    "app.title": "农业保险",
    "app.skip": "跳到正文",
    "app.language": "语言",
    "app.logout": "退出登录",
    "app.signed_in": "{username}（{role}）",
    "app.loading": "加载中…",
    "app.not_available": "此页面暂不可用。",
    "app.no_page": "您的角色（{role}）暂无页面：请使用 API 或 agri 命令。",
    "app.agent_app": "协保员请在手机应用中登记牲畜、采集理赔证据：",
    "app.not_allowed": "您的角色（{role}）不能打开此页面。",
    "app.error": "出错了：{detail}",
    "login.title": "登录",
    "login.username": "用户名",
    "login.password": "密码",
    "login.submit": "登录",
    "login.failed": "登录失败：{detail}",
    "login.expired": "会话已结束，请重新登录。",
    "role.admin": "管理员",
    "role.underwriter": "核保员",
    "role.adjuster": "理赔员",
    "role.field_agent": "协保员",
    "role.farmer": "农户",
    "page.underwriter": "投保申请",
    "page.adjuster": "理赔案件",
    "page.farmer": "我的保险",
    "page.admin": "系统管理",
    "nav.label": "页面",
    "table.prev": "上一页",
    "table.next": "下一页",
    "table.range": "第 {from}–{to} 条，共 {total} 条",
    "table.empty": "暂无记录。",
    "table.pages": "{caption}分页",
    "light.green": "绿灯",
    "light.amber": "黄灯",
    "light.red": "红灯",
    "light.none": "无",
    "toast.close": "关闭",
  },
});
