//! `dtk plot`: one metric's chart as a PNG or SVG image.

use detectk_core::{ConfigError, Registry};
use detectk_report::plot::{ImageFormat, render_chart};

use crate::cli::{PlotArgs, Selection};
use crate::commands::{FAILED, INVALID, OK, prepare, print_config_errors};

/// Runs `dtk plot`; returns the exit code.
pub async fn plot(registry: &Registry, args: &PlotArgs) -> Result<u8, ConfigError> {
    let period = crate::commands::report::period(args.from.as_deref(), args.to.as_deref())?;
    if let Err(e) = ImageFormat::from_path(&args.output) {
        eprintln!("error: --output {e}");
        return Ok(INVALID);
    }
    let selection = Selection {
        paths: vec![args.config.clone()],
        select: Vec::new(),
        exclude: Vec::new(),
    };
    let prepared = prepare(registry, &selection, period.now)?;
    print_config_errors(&prepared.errors);
    let plan = match prepared.plans.as_slice() {
        [plan] => plan,
        [] => return Ok(INVALID),
        more => {
            eprintln!(
                "error: dtk plot draws one metric; {} holds {} (pass one config file)",
                args.config.display(),
                more.len()
            );
            return Ok(INVALID);
        }
    };
    let data = match detectk_report::source::load_metric(plan, &period).await {
        Ok(data) => data,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(FAILED);
        }
    };
    let view = detectk_report::analyze(&data, &period);
    if let Err(e) = render_chart(&view, &period, &args.output, (args.width, args.height)) {
        eprintln!("error: {e}");
        return Ok(FAILED);
    }
    if !crate::output::quiet() {
        println!(
            "wrote {}: {} point(s), {} anomal{}",
            args.output.display(),
            data.points.len(),
            view.anomalies.len(),
            if view.anomalies.len() == 1 {
                "y"
            } else {
                "ies"
            }
        );
    }
    Ok(OK)
}
