//! `groupscale classify`: PNG or JPEG images in, classes out.

use groupscale::eval::{argmax, softmax};
use groupscale::loader::builtin;
use groupscale::Session;

use crate::{choose_backend, Outcome};

#[derive(clap::Args)]
pub struct Args {
    /// A model file, `builtin` (the nested model) or `builtin:VARIANT`
    /// (`nested`, `cumulative`, `isolated`).
    #[arg(long, default_value = "builtin")]
    model: String,
    /// Active groups (default: all).
    #[arg(long)]
    groups: Option<usize>,
    #[arg(long)]
    backend: Option<String>,
    /// Images to classify (PNG or JPEG).
    #[arg(required = true)]
    images: Vec<std::path::PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let model = builtin::open(&args.model)?;
    let backend = choose_backend(args.backend.as_deref(), None, None)?;
    let mut session = Session::new(&model, backend, 1)?;
    session.set_active_groups(args.groups.unwrap_or(model.groups()))?;
    let mut input = Vec::with_capacity(model.input().item_len());
    for path in &args.images {
        input.clear();
        groupscale::data::image::load_as_input(path, model.input(), &mut input)?;
        let p = softmax(session.infer(&input, 1)?);
        let best = argmax(&p);
        println!(
            "{}: {} ({:.1}%)",
            path.display(),
            model.classes()[best],
            100.0 * p[best]
        );
    }
    Ok(Outcome::Done)
}
