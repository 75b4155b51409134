//! HQ's web dashboard in a real browser (Debian's headless Chromium) against a real server holding the demo
//! programme pushed through the sync protocol: each view loads and shows what the HQ API says, and screenshots are
//! kept as test artifacts (target/tmp/dashboard-*.png).
#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use tests::TestServer;

fn chromium(profile: &Path, args: &[&str], url: &str) -> String {
    let binary = std::env::var("CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let output = Command::new(&binary)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--virtual-time-budget=20000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {binary} ({e}): install Debian's chromium package"));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn get(url: &str, token: &str) -> Value {
    let (status, body) = tests::hq_get(url, Some(token));
    assert_eq!(status, 200, "{body}");
    body
}

/// The text of the element with this id in a dumped DOM.
fn text_of<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} in the page"))
        + id.len()
        + 6;
    &dom[start..start + dom[start..].find('<').unwrap()]
}

#[test]
fn the_dashboard_shows_the_seeded_numbers_offline() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(&dir.path().join("server"));
    let (dataset, enrolment) = server.push_demo(7);
    let hq = enrolment.hq_token();
    let page = |view: &str| format!("{}/#token={hq}&then={view}", server.url());
    let profile = dir.path().join("profile");
    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR"));

    // Overview: the headline in ANAMA's form, as the API computes it.
    let totals = get(&format!("{}/v1/hq/totals", server.url()), hq);
    let dom = chromium(&profile, &["--dump-dom"], &page("overview"));
    assert!(
        dom.contains("data-loaded=\"overview\""),
        "the overview did not load:\n{dom}"
    );
    let headline = &totals["headline"];
    assert_eq!(
        text_of(&dom, "hectares-cleared"),
        format!("{:.2}", headline["hectares_cleared"].as_f64().unwrap())
    );
    assert!(
        headline["hectares_cleared"].as_f64().unwrap() > 1.0,
        "the demo's approved records cleared land"
    );
    for (id, field) in [("ap-mines", "ap_mines"), ("at-mines", "at_mines"), ("uxo", "uxo")] {
        assert_eq!(text_of(&dom, id), headline[field].to_string(), "{id}");
    }
    // Beside them, everything reported, drafts included: more than what is approved (the demo approves every
    // completed task's records, and leaves the rest in review).
    let reported = &get(&format!("{}/v1/hq/totals?review=any", server.url()), hq)["headline"];
    let cleared = reported["hectares_cleared"].as_f64().unwrap();
    assert!(
        cleared > headline["hectares_cleared"].as_f64().unwrap(),
        "some of the land, not all, is approved: {reported}"
    );
    assert_eq!(totals["filter"]["review"], "approved", "the tiles are approved figures");
    let line = text_of(&dom, "approved");
    assert!(
        line.contains(&format!("{cleared:.2} ha cleared, {} AP mines", reported["ap_mines"])),
        "{line}"
    );

    // Map: every hazard area, worked area and find drawn from the data.
    let dom = chromium(&profile, &["--dump-dom"], &page("map"));
    assert!(dom.contains("data-loaded=\"map\""), "the map did not load");
    let counts = |kind: &str| dom.matches(&format!("class=\"{kind}\"")).count();
    let generated = |t: domain::RecordType| {
        dataset
            .records_by_team()
            .values()
            .flatten()
            .filter(|r| r.record_type() == t)
            .count()
    };
    assert_eq!(counts("find"), generated(domain::RecordType::Find));
    assert!(
        counts("worked") >= generated(domain::RecordType::WorkedArea),
        "a worked area is one path or more"
    );
    assert!(counts("hazard") >= generated(domain::RecordType::HazardArea));

    // At national scale the map counts on a grid: with 20 features allowed per layer, the finds are circles whose
    // counts add up to every find, each linking to the map of its cell.
    let dom = chromium(&profile, &["--dump-dom"], &page("map/limit=20"));
    assert!(dom.contains("data-loaded=\"map\""), "the gridded map did not load");
    assert!(!dom.contains("class=\"find\""), "no single finds drawn");
    let counted: usize = dom
        .split("class=\"find cell\"")
        .skip(1)
        .map(|mark| {
            let title = &mark[mark.find("<title>").unwrap() + 7..];
            title[..title.find('<').unwrap()].parse::<usize>().unwrap()
        })
        .sum();
    assert_eq!(counted, generated(domain::RecordType::Find));
    assert!(dom.contains("href=\"#map/bbox="), "a cell links to its part of the map");
    assert!(text_of(&dom, "map-finds").contains("counted on a grid"));

    // Data quality and a task's page.
    let quality = get(&format!("{}/v1/hq/quality", server.url()), hq);
    let dom = chromium(&profile, &["--dump-dom"], &page("quality"));
    let findings = quality["findings"].as_array().unwrap().len();
    assert!(
        dom.contains(&format!("Data quality: {findings} finding(s)")),
        "quality page"
    );
    // A summary by kind, then each kind's findings, the first 200 of each listed.
    let mut by_kind: std::collections::BTreeMap<String, usize> = Default::default();
    for finding in quality["findings"].as_array().unwrap() {
        *by_kind
            .entry(finding["kind"].as_str().unwrap().replace('_', " "))
            .or_default() += 1;
    }
    assert!(by_kind.len() > 1, "the demo has findings of several kinds: {by_kind:?}");
    let start = dom.find("id=\"quality-summary\">").expect("a summary");
    let summary = &dom[start..start + dom[start..].find("</div>").unwrap()];
    for (kind, count) in &by_kind {
        assert!(
            summary.contains(&format!("<td>{kind}</td><td class=\"number\">{count}</td>")),
            "{kind}: {count} in {summary}"
        );
        assert!(
            dom.contains(&format!("<h3>{kind} ({count})</h3>")),
            "a section for {kind}"
        );
        if *count > 200 {
            assert!(
                dom.contains(&format!("and {} more", count - 200)),
                "{kind} is cut at 200"
            );
        }
    }
    let task = dataset
        .records_by_team()
        .into_values()
        .flatten()
        .find(|r| r.record_type() == domain::RecordType::Task)
        .unwrap();
    let dom = chromium(&profile, &["--dump-dom"], &page(&format!("task/{}", task.id())));
    assert!(
        dom.contains(&format!("Task {}", task.meta.label)),
        "the task page names its task"
    );

    // A record's page: what the server holds and its history, one row per change.
    let edited = dataset.histories().find(|h| h.versions.len() > 2).unwrap();
    let id = edited.record().id();
    let record = get(&format!("{}/v1/hq/records/{id}", server.url()), hq);
    assert_eq!(record["history"].as_array().unwrap().len(), edited.versions.len());
    let dom = chromium(&profile, &["--dump-dom"], &page(&format!("record/{id}")));
    assert!(
        dom.contains(&format!("History ({} changes)", edited.versions.len())),
        "the record page shows its history"
    );
    // Each change names the enrolled device that pushed it, beside what it claims, and the values it set.
    let creator = dataset.device(edited.created().author).unwrap();
    assert_eq!(record["history"][0]["pushed_by"]["name"], creator.name.as_str());
    assert_eq!(record["history"][0]["pushed_by"]["role"], creator.role.as_str());
    assert!(
        dom.contains(&format!("{} ({})", creator.name, creator.role)),
        "the record page names the pushing device"
    );
    let label = format!("label = {}", edited.created().record.meta.label);
    assert!(dom.contains(&label), "the record page shows the values set: {label}");
    let conflicts = record["conflicts"].as_array().unwrap().len();
    assert!(
        dom.contains(&format!("Open conflicts ({conflicts}): a supervisor decides")),
        "the record page shows its open conflicts"
    );

    // Screenshots, kept for a person to look at.
    let record_view = format!("record/{id}");
    for (name, view) in [
        ("overview", "overview"),
        ("map", "map"),
        ("map-limit-20", "map/limit=20"),
        ("record", record_view.as_str()),
        ("quality", "quality"),
    ] {
        let png = artifacts.join(format!("dashboard-{name}.png"));
        let _ = std::fs::remove_file(&png);
        chromium(
            &profile,
            &["--window-size=1280,900", &format!("--screenshot={}", png.display())],
            &page(view),
        );
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{} is a screenshot",
            png.display()
        );
    }
}
