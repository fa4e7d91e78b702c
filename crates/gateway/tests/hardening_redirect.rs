//! Open redirects (security review, finding 5): `/lang/en?back=/%09/evil.example/` and
//! `/login?next=/%09/…` took Chromium off-site (browsers strip the tab and see `//host`), and
//! `?back=/%0A` gave a plain-text 500. Only a same-origin relative path is followed now; anything else
//! goes home, and nothing answers 500.

use axum::http::{StatusCode, header};
use medledger_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestBrowser, TestGateway, csrf_of, location};

/// As typed in a query string, and as a form field carries them.
const OFF_SITE: [&str; 6] = [
    "/%09/evil.example/",
    "//evil.example/",
    "/%5Cevil.example",
    "%2F%2Fevil.example",
    "https://evil.example/",
    "/%0D%0ASet-Cookie:%20x=1",
];

#[tokio::test]
async fn the_language_switch_goes_back_only_on_this_site() {
    let gateway = TestGateway::start().await;
    for back in OFF_SITE.iter().chain(&["/%0A"]) {
        let response = gateway.get(&format!("/lang/en?back={back}"), None).await;
        assert_eq!(
            response.status,
            StatusCode::SEE_OTHER,
            "{back}: {}",
            response.text()
        );
        assert_eq!(location(&response).as_deref(), Some("/"), "{back}");
    }
    let response = gateway
        .get("/lang/es?back=/explorer%3Fbefore%3D3", None)
        .await;
    assert_eq!(location(&response).as_deref(), Some("/explorer?before=3"));
}

#[tokio::test]
async fn a_login_goes_on_only_to_a_page_of_this_site() {
    let gateway = TestGateway::start().await;
    let decoded = [
        "/\t/evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "//evil.example",
        "https://evil.example/",
        "/\r\nSet-Cookie: x=1",
    ];
    for (next, posted) in OFF_SITE.into_iter().zip(decoded) {
        let mut browser = TestBrowser::new(&gateway);
        let form = browser.get(&format!("/login?next={next}")).await;
        assert_eq!(form.status, StatusCode::OK, "{next}");
        assert!(
            form.text().contains(r#"name="next" value="""#),
            "{next}: the form carries no off-site next"
        );
        let csrf = csrf_of(&form.text()).expect("a login form");
        let answer = browser
            .post_form(
                "/login",
                &[
                    ("email", ADMIN_EMAIL),
                    ("password", ADMIN_PASSWORD),
                    ("csrf", &csrf),
                    ("next", posted),
                ],
            )
            .await;
        let target = location(&answer).unwrap_or_default();
        assert!(
            target.starts_with('/') && !target.starts_with("//") && !target.contains("evil"),
            "{next}: went to {target:?}"
        );
        assert!(
            answer.headers.get(header::SET_COOKIE).is_some(),
            "logged in"
        );
    }
}
