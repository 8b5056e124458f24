//! Steps run one after the other, each saying what it does and what it
//! proves; a failed step does not stop the later ones (one run shows every
//! problem), but makes the whole pipeline fail.

use anyhow::{Context, Result};
use std::io::{BufRead, BufReader};
use std::process::{Command, ExitStatus, Stdio};

/// Counts summed over cargo's `test result:` lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TestCounts {
    /// Tests that passed.
    pub passed: u64,
    /// Tests that failed.
    pub failed: u64,
    /// Tests marked `#[ignore]` (the project has none; shown if any appear).
    pub ignored: u64,
}

impl std::ops::AddAssign for TestCounts {
    fn add_assign(&mut self, o: Self) {
        self.passed += o.passed;
        self.failed += o.failed;
        self.ignored += o.ignored;
    }
}

/// How a step ended.
#[derive(Debug)]
pub enum Outcome {
    /// Success, with a one-line detail.
    Passed(String),
    /// Failure, with the reason.
    Failed(String),
    /// A test run: its counts, and whether the command itself succeeded.
    Tests {
        /// Summed counts.
        counts: TestCounts,
        /// The test command's exit status was success.
        exit_ok: bool,
    },
}

impl Outcome {
    fn ok(&self) -> bool {
        match self {
            Outcome::Passed(_) => true,
            Outcome::Failed(_) => false,
            Outcome::Tests { counts, exit_ok } => *exit_ok && counts.failed == 0,
        }
    }
}

/// One step: a name, what running it establishes, and the work.
pub struct Step<'a> {
    /// Short name shown in the summary.
    pub name: &'static str,
    /// Printed before the step runs: what it does and what passing it proves.
    pub proves: String,
    /// The work; an `Err` is reported as a failed step.
    pub run: Box<dyn FnOnce() -> Result<Outcome> + 'a>,
}

impl<'a> Step<'a> {
    /// A step from a closure.
    pub fn new(
        name: &'static str,
        proves: impl Into<String>,
        run: impl FnOnce() -> Result<Outcome> + 'a,
    ) -> Self {
        Step {
            name,
            proves: proves.into(),
            run: Box::new(run),
        }
    }
}

/// Runs the steps in order, prints a summary and, last, one line
/// `N passed, N failed`; returns whether everything passed.
pub fn run_steps(steps: Vec<Step<'_>>) -> bool {
    let total = steps.len();
    let mut results = Vec::with_capacity(total);
    for (i, step) in steps.into_iter().enumerate() {
        println!();
        println!("==> [{}/{total}] {}: {}", i + 1, step.name, step.proves);
        let outcome = (step.run)().unwrap_or_else(|e| Outcome::Failed(format!("{e:#}")));
        println!("<== {}: {}", step.name, describe(&outcome));
        results.push((step.name, outcome));
    }

    println!();
    println!("summary:");
    let mut counts = TestCounts::default();
    let mut failed_steps = Vec::new();
    for (name, outcome) in &results {
        println!(
            "  {:<8} {:<6} {}",
            name,
            if outcome.ok() { "ok" } else { "FAILED" },
            describe(outcome)
        );
        if let Outcome::Tests { counts: c, .. } = outcome {
            counts += *c;
        }
        if !outcome.ok() {
            failed_steps.push(*name);
        }
    }
    let mut last = format!("{} passed, {} failed", counts.passed, counts.failed);
    if counts.ignored > 0 {
        last.push_str(&format!(", {} ignored", counts.ignored));
    }
    if !failed_steps.is_empty() {
        last.push_str(&format!(" (failed steps: {})", failed_steps.join(", ")));
    }
    println!("{last}");
    failed_steps.is_empty()
}

fn describe(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Passed(detail) => detail.clone(),
        Outcome::Failed(reason) => reason.clone(),
        Outcome::Tests { counts, exit_ok } => {
            let mut s = format!("{} passed, {} failed", counts.passed, counts.failed);
            if !exit_ok && counts.failed == 0 {
                s.push_str("; the test command failed before or outside the tests (build error?)");
            }
            s
        }
    }
}

/// The command as a user would type it (the program by its file name).
pub fn shown(cmd: &Command) -> String {
    let program = std::path::Path::new(cmd.get_program());
    let mut s = program
        .file_name()
        .unwrap_or(program.as_os_str())
        .to_string_lossy()
        .into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

/// Runs a command with its output going straight to the terminal.
pub fn run_visible(mut cmd: Command) -> Result<ExitStatus> {
    println!("$ {}", shown(&cmd));
    cmd.status()
        .with_context(|| format!("cannot start `{}`", shown(&cmd)))
}

/// Runs a command with its output going straight to the terminal; `Passed(ok)` on success.
pub fn run_check(cmd: Command, ok: &str) -> Result<Outcome> {
    let line = shown(&cmd);
    let status = run_visible(cmd)?;
    Ok(if status.success() {
        Outcome::Passed(ok.to_owned())
    } else {
        Outcome::Failed(format!("`{line}` exited with {status}"))
    })
}

/// Runs a test command, echoing its stdout line by line while summing the
/// `test result:` lines (stderr, with cargo's progress, goes straight through).
pub fn run_tests(mut cmd: Command) -> Result<Outcome> {
    println!("$ {}", shown(&cmd));
    let mut child = cmd
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{}`", shown(&cmd)))?;
    let stdout = child
        .stdout
        .take()
        .context("test command has no stdout pipe")?;
    let mut counts = TestCounts::default();
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading the test output")?;
        println!("{line}");
        if let Some(c) = parse_test_result(&line) {
            counts += c;
        }
    }
    let status = child.wait().context("waiting for the test command")?;
    Ok(Outcome::Tests {
        counts,
        exit_ok: status.success(),
    })
}

/// Parses a libtest summary such as
/// `test result: FAILED. 3 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s`.
pub fn parse_test_result(line: &str) -> Option<TestCounts> {
    let rest = line.trim_start().strip_prefix("test result: ")?;
    let (_status, fields) = rest.split_once(". ")?;
    let mut counts = TestCounts::default();
    let mut seen_passed = false;
    for field in fields.split(';') {
        let mut words = field.split_whitespace();
        let (Some(n), Some(what)) = (words.next(), words.next()) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        match what {
            "passed" => {
                counts.passed = n;
                seen_passed = true;
            }
            "failed" => counts.failed = n,
            "ignored" => counts.ignored = n,
            _ => {}
        }
    }
    seen_passed.then_some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_libtest_summaries() {
        let ok = "test result: ok. 15 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.02s";
        assert_eq!(
            parse_test_result(ok),
            Some(TestCounts {
                passed: 15,
                failed: 0,
                ignored: 0
            })
        );
        let bad = "test result: FAILED. 3 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 1.00s";
        assert_eq!(
            parse_test_result(bad),
            Some(TestCounts {
                passed: 3,
                failed: 2,
                ignored: 1
            })
        );
        assert_eq!(parse_test_result("test foo ... ok"), None);
        assert_eq!(parse_test_result("running 3 tests"), None);
        assert_eq!(parse_test_result("test result: garbage"), None);
    }

    #[test]
    fn failed_steps_fail_the_pipeline() {
        let steps = vec![
            Step::new("a", "passes", || Ok(Outcome::Passed("fine".into()))),
            Step::new("b", "errors", || anyhow::bail!("boom")),
        ];
        assert!(!run_steps(steps));
        let tests_failed = vec![Step::new("t", "tests", || {
            Ok(Outcome::Tests {
                counts: TestCounts {
                    passed: 1,
                    failed: 1,
                    ignored: 0,
                },
                exit_ok: false,
            })
        })];
        assert!(!run_steps(tests_failed));
        let build_failed = vec![Step::new("t", "tests", || {
            Ok(Outcome::Tests {
                counts: TestCounts::default(),
                exit_ok: false,
            })
        })];
        assert!(!run_steps(build_failed));
        assert!(run_steps(vec![Step::new("a", "passes", || Ok(
            Outcome::Passed(String::new())
        ))]));
    }
}
