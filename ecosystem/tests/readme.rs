//! The README's "Using it in a service" code blocks are the compiled regions of
//! `examples/readme.rs`, word for word: a block that drifts from the code fails here.

/// The README's ```` ```rust,ignore ```` blocks tagged with a first line `// <name>`... are
/// matched by their position: the README holds them in the example's order.
fn readme_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in readme.lines() {
        match (&mut current, line.trim()) {
            (None, "```rust,ignore") => current = Some(Vec::new()),
            (Some(block), "```") => {
                blocks.push(block.join("\n"));
                current = None;
            }
            (Some(block), _) => block.push(line),
            _ => {}
        }
    }
    blocks
}

/// The `// README: <name>` … `// README: end` regions of the example, de-indented.
fn example_regions(source: &str) -> Vec<(String, String)> {
    let mut regions = Vec::new();
    let mut current: Option<(String, Vec<&str>)> = None;
    for line in source.lines() {
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix("// README: ") {
            if name == "end" {
                let (name, lines) = current.take().expect("an open region");
                let indent = lines
                    .iter()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| l.len() - l.trim_start().len())
                    .min()
                    .unwrap_or(0);
                let text: Vec<_> = lines
                    .iter()
                    .map(|l| l.get(indent..).unwrap_or(""))
                    .collect();
                regions.push((name, text.join("\n")));
            } else {
                current = Some((name.to_owned(), Vec::new()));
            }
        } else if let Some((_, lines)) = &mut current {
            lines.push(line);
        }
    }
    regions
}

#[test]
fn the_service_snippets_are_the_example_code() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/../README.md")).unwrap();
    let example = std::fs::read_to_string(format!("{root}/examples/readme.rs")).unwrap();
    let blocks = readme_blocks(&readme);
    let regions = example_regions(&example);
    assert_eq!(regions.len(), 3);
    assert_eq!(
        blocks.len(),
        regions.len(),
        "one README block per example region"
    );
    for (block, (name, region)) in blocks.iter().zip(&regions) {
        assert_eq!(
            block, region,
            "README block {name:?} differs from examples/readme.rs"
        );
    }
}
