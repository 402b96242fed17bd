// The words of a notice's public page (js/notice-public.js), in English and Chinese,
// the same keys in both. A receipt's failures are worded by the farmer page's
// receipt.why.* (js/pages/farmer.strings.js), which the page registers too.

export default {
  en: {
    "pub.title": "Public notice",
    "pub.what":
      "This page checks, in your browser, that the notice is the one recorded on the insurer's tamper-evident ledger, and shows it as it was posted.",
    "pub.checking": "Checking the notice against the insurer's ledger…",
    "pub.valid":
      "Verified: this is the notice as posted. It is entry #{index} of the ledger {origin} (size {size}), signed by the key {key} {id}.",
    "pub.invalid": "Not valid: this notice's receipt does not match the ledger. {reason}",
    "pub.cannot":
      "This browser cannot check the notice: {reason}. The notice itself may be valid; check it on another device.",
    "pub.not_notice": "the ledger entry #{index} is not notice {id}",
    "pub.not_found": "There is no notice {id}: check the code printed on the paper.",
    "pub.bad_address": "This address names no notice: scan the code on the paper again.",
    "pub.unreachable": "The insurer's server cannot be reached: {detail}",
    "pub.key": "The ledger's key (compare it with the one the insurer publishes):",
    "pub.leaf": "Leaf SHA-256 (printed on the paper beside the code):",
  },
  zh: {
    "pub.title": "公示",
    "pub.what": "本页面在您的浏览器中核对本公示与保险公司防篡改账本中的记录是否一致，并按原样显示公示内容。",
    "pub.checking": "正在核对本公示与保险公司账本…",
    "pub.valid":
      "已核验：此为原始公示内容，为账本 {origin} 的第 {index} 条记录（账本规模 {size}），由公钥 {key} {id} 签名。",
    "pub.invalid": "无效：本公示的回执与账本不符。{reason}",
    "pub.cannot": "此浏览器无法核验本公示：{reason}。公示本身可能有效，请换一台设备核验。",
    "pub.not_notice": "账本第 {index} 条记录不是公示 {id}",
    "pub.not_found": "没有编号为 {id} 的公示：请核对纸面上印的编号。",
    "pub.bad_address": "此网址不是公示的网址：请重新扫描纸面上的二维码。",
    "pub.unreachable": "无法连接保险公司的服务器：{detail}",
    "pub.key": "账本公钥（请与保险公司公布的公钥核对）：",
    "pub.leaf": "叶哈希 SHA-256（印在纸面二维码旁）：",
  },
};
