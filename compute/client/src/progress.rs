//! Progress bars and log lines on one terminal: every bar belongs to one [`MultiProgress`], and
//! log lines are written through [`LogWriter`], which hides the bars while it writes. So a bar is
//! always the last thing on screen and never leaves stale copies in the scrollback.

use std::io::{self, Write};
use std::sync::OnceLock;

use indicatif::{MultiProgress, ProgressBar};

static BARS: OnceLock<MultiProgress> = OnceLock::new();

fn bars() -> &'static MultiProgress {
    BARS.get_or_init(MultiProgress::new)
}

/// Shows `bar` below the log lines.
pub fn add(bar: ProgressBar) -> ProgressBar {
    bars().add(bar)
}

/// The log writer (`tracing_subscriber`'s `MakeWriter` is any `Fn() -> impl Write`).
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        bars().suspend(|| io::stderr().write(buf))
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        bars().suspend(|| io::stderr().write_all(buf))
    }
    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}
