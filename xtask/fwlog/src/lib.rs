//! The conformance firmware reports over semihosting in lines `kiln: key=value ...`; this crate
//! is the one definition of those records: the firmware prints them with [`Record`]'s
//! `Display`, `cargo xtask fvp-test` reads them back with [`parse`]. `no_std`, no allocation.
#![no_std]
#![warn(missing_docs)]

use core::fmt;

/// What every record line starts with.
pub const PREFIX: &str = "kiln:";

/// Instructions per SysTick tick, in thousandths (the firmware's calibration).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Milli(pub u64);

impl fmt::Display for Milli {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

/// One record line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Record<'a> {
    /// The board and its instruction clock: `kiln: board=.. cpu=.. [npu=..] insns_per_tick=..`.
    Board {
        /// Board name (`mps3-an547`).
        board: &'a str,
        /// CPU (`cortex-m55`).
        cpu: &'a str,
        /// NPU configuration, if the firmware uses one.
        npu: Option<&'a str>,
        /// Instructions per SysTick tick.
        insns_per_tick: Milli,
    },
    /// One inference against its golden:
    /// `kiln: model=.. input=.. result=match|MISMATCH mismatched=a/b insns=..`.
    Inference {
        /// Model name.
        model: &'a str,
        /// Golden input index.
        input: u32,
        /// Elements that differ from the golden.
        mismatched: u32,
        /// Output elements.
        outputs: u32,
        /// Instructions the inference took.
        insns: u64,
    },
    /// The stack: `kiln: stack_high_water=.. stack_size=..` (bytes).
    Stack {
        /// Deepest use measured by stack painting.
        high_water: u64,
        /// Stack size.
        size: u64,
    },
    /// The exit code the firmware is about to return: `kiln: exit=..`.
    Exit(u32),
    /// An error: `kiln: error=<text>`.
    Error(&'a str),
}

impl fmt::Display for Record<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Record::Board {
                board,
                cpu,
                npu,
                insns_per_tick,
            } => {
                write!(f, "{PREFIX} board={board} cpu={cpu}")?;
                if let Some(npu) = npu {
                    write!(f, " npu={npu}")?;
                }
                write!(f, " insns_per_tick={insns_per_tick}")
            }
            Record::Inference {
                model,
                input,
                mismatched,
                outputs,
                insns,
            } => write!(
                f,
                "{PREFIX} model={model} input={input} result={} mismatched={mismatched}/{outputs} insns={insns}",
                if *mismatched == 0 { "match" } else { "MISMATCH" }
            ),
            Record::Stack { high_water, size } => {
                write!(f, "{PREFIX} stack_high_water={high_water} stack_size={size}")
            }
            Record::Exit(code) => write!(f, "{PREFIX} exit={code}"),
            Record::Error(text) => write!(f, "{PREFIX} error={text}"),
        }
    }
}

/// The value of `key=` in the fields of a record line.
fn field<'a>(rest: &'a str, key: &str) -> Option<&'a str> {
    rest.split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The record on `line`, `None` if it is not one (or a field does not parse).
pub fn parse(line: &str) -> Option<Record<'_>> {
    let rest = line.trim().strip_prefix(PREFIX)?.trim_start();
    if let Some(text) = rest.strip_prefix("error=") {
        return Some(Record::Error(text));
    }
    if let Some(code) = field(rest, "exit") {
        return code.parse().ok().map(Record::Exit);
    }
    if let (Some(h), Some(s)) = (field(rest, "stack_high_water"), field(rest, "stack_size")) {
        return Some(Record::Stack {
            high_water: h.parse().ok()?,
            size: s.parse().ok()?,
        });
    }
    if let (Some(model), Some(input)) = (field(rest, "model"), field(rest, "input")) {
        let (bad, n) = field(rest, "mismatched")?.split_once('/')?;
        return Some(Record::Inference {
            model,
            input: input.parse().ok()?,
            mismatched: bad.parse().ok()?,
            outputs: n.parse().ok()?,
            insns: field(rest, "insns")?.parse().ok()?,
        });
    }
    if let (Some(board), Some(cpu)) = (field(rest, "board"), field(rest, "cpu")) {
        let (int, frac) = field(rest, "insns_per_tick")?.split_once('.')?;
        return Some(Record::Board {
            board,
            cpu,
            npu: field(rest, "npu"),
            insns_per_tick: Milli(int.parse::<u64>().ok()? * 1000 + frac.parse::<u64>().ok()?),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::ToString;

    #[test]
    fn every_record_reads_back_as_written() {
        let records = [
            Record::Board {
                board: "mps3-an547",
                cpu: "cortex-m55",
                npu: Some("ethos-u55-128"),
                insns_per_tick: Milli(31_250),
            },
            Record::Board {
                board: "mps2-an386",
                cpu: "cortex-m4",
                npu: None,
                insns_per_tick: Milli(40_000),
            },
            Record::Inference {
                model: "kws",
                input: 3,
                mismatched: 0,
                outputs: 12,
                insns: 3_753_781,
            },
            Record::Inference {
                model: "resnet8",
                input: 0,
                mismatched: 2,
                outputs: 10,
                insns: 1,
            },
            Record::Stack {
                high_water: 6356,
                size: 459_088,
            },
            Record::Exit(100),
            Record::Error("load model=kws reason: arena too small"),
        ];
        for r in records {
            let line = r.to_string();
            assert_eq!(parse(&line), Some(r), "{line}");
        }
        assert_eq!(
            Record::Inference {
                model: "kws",
                input: 0,
                mismatched: 0,
                outputs: 12,
                insns: 5
            }
            .to_string(),
            "kiln: model=kws input=0 result=match mismatched=0/12 insns=5"
        );
        assert_eq!(parse("panic: at x"), None);
        assert_eq!(
            parse("kiln: model=kws input=x mismatched=0/1 insns=1"),
            None
        );
    }
}
