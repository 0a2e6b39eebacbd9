/// Pages that act out a single sign-on round trip in a browser, for the sticky cookie's
/// test: the identity provider's answer comes back as a form it posts from its own site.
/// - `/sso-start?idp=URL`: the application's page, which sends the browser to `idp`;
/// - `/sso-idp?to=URL`: the identity provider's page, which posts a form to `to` at once;
/// - `/sso-acs`: the application's form receiver, showing the Cookie field it was sent.
/// The URLs are read by the pages' scripts from their own address: nothing of the request
/// is written into a page but the Cookie field, escaped.
enum SingleSignOnPages {
    static func page(path: String, cookie: String) -> String? {
        switch path {
        case "/sso-start":
            return html(#"<script>location.href = new URLSearchParams(location.search).get("idp");</script>"#)
        case "/sso-idp":
            return html("""
                <form method="post"><input type="hidden" name="SAMLResponse" value="signed-assertion"></form>
                <script>const f = document.forms[0]; f.action = new URLSearchParams(location.search).get("to"); f.submit();</script>
                """)
        case "/sso-acs":
            let shown = cookie.isEmpty ? "(none)" : cookie
            return html("<pre id=\"cookie\">cookie: \(escaped(shown))</pre>")
        default:
            return nil
        }
    }

    private static func html(_ body: String) -> String { "<!doctype html><html><body>\(body)</body></html>" }

    private static func escaped(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
