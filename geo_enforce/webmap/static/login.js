/* /map/login: keep the pasted token as the ge_token cookie (what /map and its tiles read),
 * check it against /me and go to the map (or the /map… page named by ?next=). A static file:
 * the page's Content-Security-Policy allows no inline script. */
(function () {
  "use strict";
  var TOKEN = /^[A-Za-z0-9_-]{16,200}$/;  // geo-enforce tokens: "ge_" + URL-safe base64
  function setCookie(value, maxAge) {
    document.cookie = "ge_token=" + value + "; path=/; max-age=" + maxAge + "; SameSite=Strict" +
      (location.protocol === "https:" ? "; Secure" : "");
  }
  function target() {
    var next = new URLSearchParams(location.search).get("next") || "";
    // only pages of the map on this server: never another host (//evil) or another path
    return /^\/map(?:[/?#]|$)/.test(next) && next.indexOf("//") < 0 ? next : "/map";
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("ge-login-form");
    var input = document.getElementById("ge-login-token");
    var msg = document.getElementById("ge-login-message");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var token = input.value.trim();
      if (!TOKEN.test(token)) {
        msg.textContent = "令牌格式不对：应为 ge_ 开头、只含字母数字和 - _ 的一串字符，请重新粘贴。";
        return;
      }
      msg.textContent = "正在验证…";
      setCookie(token, 30 * 86400);
      fetch("/me", { credentials: "same-origin" }).then(function (r) {
        if (r.ok) { location.assign(target()); return; }
        setCookie("", 0);
        msg.textContent = r.status === 401 ? "令牌无效或已停用，请向管理员确认。" :
          r.status === 403 ? "该令牌的角色无权查看外业图，请向管理员申请查看权限。" :
          "暂时无法验证令牌（HTTP " + r.status + "），请稍后再试。";
      }, function () {
        setCookie("", 0);
        msg.textContent = "无法连接服务器，请检查网络后再试。";
      });
    });
  });
})();
