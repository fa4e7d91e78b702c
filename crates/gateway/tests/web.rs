//! The web application's entry pages through the served app: the failures this pins are a page that lets
//! an anonymous visitor in, a login that does not set a usable session, a form accepted without its CSRF
//! token, and a page in the wrong language.

use axum::http::StatusCode;
use medledger_testkit::{ADMIN_EMAIL, ADMIN_PASSWORD, TestBrowser, TestGateway, location};

#[tokio::test]
async fn an_anonymous_visitor_is_sent_to_the_login_page_and_comes_back_after_login() {
    let gateway = TestGateway::start().await;
    let mut browser = TestBrowser::new(&gateway);
    let root = browser.get("/").await;
    assert_eq!(location(&root).as_deref(), Some("/login"));
    let protected = browser.get("/password").await;
    assert_eq!(protected.status, StatusCode::SEE_OTHER);
    assert_eq!(
        location(&protected).as_deref(),
        Some("/login?next=/password")
    );

    let form = browser.get("/login?next=/password").await;
    assert!(
        form.text().contains("name=\"next\" value=\"/password\""),
        "{}",
        form.text()
    );
    let logged_in = browser
        .submit(
            "/login?next=/password",
            "/login",
            &[
                ("email", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
                ("next", "/password"),
            ],
        )
        .await;
    assert_eq!(location(&logged_in).as_deref(), Some("/password"));
    assert!(browser.has_cookie("medledger_session"));
    let home = browser.get("/").await;
    assert_eq!(
        location(&home).as_deref(),
        Some("/doctors"),
        "an administrator's home"
    );
}

#[tokio::test]
async fn a_wrong_password_shows_an_error_and_keeps_the_email() {
    let gateway = TestGateway::start().await;
    let mut browser = TestBrowser::new(&gateway);
    browser.accept_language = Some("es-CU,es;q=0.9,en;q=0.5".into());
    let answer = browser.login(ADMIN_EMAIL, "not the password").await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    let html = answer.text();
    assert!(
        html.contains("Correo electrónico o contraseña incorrectos."),
        "{html}"
    );
    assert!(
        html.contains(&format!("value=\"{ADMIN_EMAIL}\"")),
        "the typed email is kept"
    );
    assert!(!browser.has_cookie("medledger_session"));
}

#[tokio::test]
async fn forms_without_their_csrf_token_are_refused() {
    let gateway = TestGateway::start().await;
    let mut browser = TestBrowser::new(&gateway);
    // Login without the double-submit token.
    let answer = browser
        .post_form(
            "/login",
            &[
                ("email", ADMIN_EMAIL),
                ("password", ADMIN_PASSWORD),
                ("csrf", "forged"),
            ],
        )
        .await;
    assert!(
        !browser.has_cookie("medledger_session"),
        "{}",
        answer.text()
    );
    browser.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    assert!(browser.has_cookie("medledger_session"));
    let forged = browser.post_form("/logout", &[("csrf", "0000")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert!(
        browser.has_cookie("medledger_session"),
        "a forged logout does not log out"
    );
    let logout = browser.submit("/password", "/logout", &[]).await;
    assert_eq!(
        location(&logout).as_deref(),
        Some("/login?bye=1"),
        "{}",
        logout.text()
    );
    assert!(!browser.has_cookie("medledger_session"));
    let after = browser.get("/password").await;
    assert_eq!(after.status, StatusCode::SEE_OTHER, "the session ended");
}

#[tokio::test]
async fn the_language_follows_the_browser_and_the_switch_is_remembered() {
    let gateway = TestGateway::start().await;
    let mut browser = TestBrowser::new(&gateway);
    browser.accept_language = Some("en-GB,en;q=0.9".into());
    assert!(
        browser
            .get("/login")
            .await
            .text()
            .contains("<html lang=\"en\">")
    );
    let switched = browser.get("/lang/es?back=/login").await;
    assert_eq!(location(&switched).as_deref(), Some("/login"));
    let html = browser.get("/login").await.text();
    assert!(
        html.contains("<html lang=\"es\">") && html.contains("Iniciar sesión"),
        "{html}"
    );
    let outside = browser.get("/lang/en?back=//evil.example").await;
    assert_eq!(
        location(&outside).as_deref(),
        Some("/"),
        "never redirects off the site"
    );
}

#[tokio::test]
async fn the_password_page_changes_the_password_and_shows_errors_next_to_fields() {
    let gateway = TestGateway::start().await;
    let mut browser = TestBrowser::new(&gateway);
    browser.accept_language = Some("en".into());
    browser.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let wrong = browser
        .submit(
            "/password",
            "/password",
            &[
                ("current_password", "nope"),
                ("new_password", "a new long password"),
                ("confirm_password", "a new long password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        wrong.text().contains("id=\"current_password-error\""),
        "{}",
        wrong.text()
    );
    let differ = browser
        .submit(
            "/password",
            "/password",
            &[
                ("current_password", ADMIN_PASSWORD),
                ("new_password", "a new long password"),
                ("confirm_password", "another"),
            ],
        )
        .await;
    assert!(differ.text().contains("id=\"confirm_password-error\""));
    let short = browser
        .submit(
            "/password",
            "/password",
            &[
                ("current_password", ADMIN_PASSWORD),
                ("new_password", "short"),
                ("confirm_password", "short"),
            ],
        )
        .await;
    assert!(short.text().contains("id=\"new_password-error\""));
    let done = browser
        .submit(
            "/password",
            "/password",
            &[
                ("current_password", ADMIN_PASSWORD),
                ("new_password", "a new long password"),
                ("confirm_password", "a new long password"),
            ],
        )
        .await;
    assert_eq!(
        location(&done).as_deref(),
        Some("/password?changed=1"),
        "{}",
        done.text()
    );
    let mut other = TestBrowser::new(&gateway);
    assert_eq!(
        other.login(ADMIN_EMAIL, ADMIN_PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        other.login(ADMIN_EMAIL, "a new long password").await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_first_administrator_must_replace_a_generated_password_before_anything_else() {
    use medledger_testkit::TestOptions;
    let gateway = TestGateway::start_with(TestOptions {
        admin_password: None,
    })
    .await;
    let first = gateway.first_admin.as_ref().expect("created a network");
    let generated = first
        .generated_password
        .clone()
        .expect("a generated password");
    let file = first.password_file.clone().expect("saved to a file");
    let mut browser = TestBrowser::new(&gateway);
    let login = browser.login(ADMIN_EMAIL, &generated).await;
    assert_eq!(location(&login).as_deref(), Some("/doctors"));
    let sent = browser.get("/doctors").await;
    assert_eq!(
        location(&sent).as_deref(),
        Some("/password?first_run=1"),
        "every page sends them to the password page"
    );
    let page = browser.get("/password?first_run=1").await;
    assert!(page.text().contains("id=\"new_password\""));
    let changed = browser
        .submit(
            "/password",
            "/password",
            &[
                ("current_password", &generated),
                ("new_password", "my own long password"),
                ("confirm_password", "my own long password"),
            ],
        )
        .await;
    assert_eq!(location(&changed).as_deref(), Some("/password?changed=1"));
    assert!(
        !file.exists(),
        "the saved generated password is removed once it opens nothing"
    );
    assert_eq!(
        browser.get("/doctors").await.status,
        StatusCode::OK,
        "now the pages open"
    );
}
