//! Renders progress events as readable lines in the style of `--progress=plain`, so the log of
//! a rawjson build reads like the output users already know.

use super::Event;

pub fn render(event: &Event) -> String {
    match event {
        Event::Started { number, name } => format!("#{number} {name}"),
        Event::Cached { number } => format!("#{number} CACHED"),
        Event::Done {
            number,
            seconds: Some(s),
        } => format!("#{number} DONE {s:.1}s"),
        Event::Done {
            number,
            seconds: None,
        } => format!("#{number} DONE"),
        Event::Failed { number, error } => format!("#{number} ERROR: {error}"),
        Event::Log { number, text } => format!("#{number} | {text}"),
        Event::Status { number, text } => format!("#{number} {text}"),
        Event::Warning { number, text } => format!("#{number} WARN: {text}"),
        Event::Text(text) => text.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_plain_progress() {
        assert_eq!(
            render(&Event::Started {
                number: 7,
                name: "[build 2/4] WORKDIR /src".into()
            }),
            "#7 [build 2/4] WORKDIR /src"
        );
        assert_eq!(render(&Event::Cached { number: 7 }), "#7 CACHED");
        assert_eq!(
            render(&Event::Done {
                number: 3,
                seconds: Some(0.266)
            }),
            "#3 DONE 0.3s"
        );
        assert_eq!(
            render(&Event::Log {
                number: 9,
                text: "assembling app".into()
            }),
            "#9 | assembling app"
        );
    }
}
