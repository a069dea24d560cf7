"""Uploaded knowledge files: each format read into documents, each bad input refused with a message
that names the file and says what to do. Every fixture is made here, in tmp_path."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from knowledge_ingest.chunking import chunk_document
from knowledge_ingest.files import FileRejectedError, content_fingerprint, load_file
from knowledge_ingest.formats.common import detect_language
from knowledge_ingest.loaders import KnowledgeFormatError

ZH_TEXT = (
    "云海国际机场停车指南\n\n"
    "云海国际机场T2航站楼的停车场位于到达层对面，短时停车每小时10元。\n"
    "长时停车场P3提供免费摆渡车，每15分钟一班。"
)


def _pdf_bytes(pages: list[list[str]], *, title: str | None = None, outline: list[str] | None = None) -> bytes:
    """A real PDF with a Helvetica text content stream per page (pypdf's writer and generic objects)."""
    writer = PdfWriter()
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    for lines in pages:
        page = writer.add_blank_page(612, 792)
        page[NameObject("/Resources")] = DictionaryObject(
            {NameObject("/Font"): DictionaryObject({NameObject("/F1"): font})}
        )
        stream = DecodedStreamObject()
        stream.set_data(("BT /F1 12 Tf 72 720 Td 16 TL " + " ".join(f"({line}) '" for line in lines) + " ET").encode())
        page.replace_contents(stream)
    for n, heading in enumerate(outline or []):
        writer.add_outline_item(title=heading, page_number=n)
    if title:
        writer.add_metadata({"/Title": title})
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def _refused(path: Path, code: str, *fragments: str, **kwargs: int) -> FileRejectedError:
    with pytest.raises(FileRejectedError) as info:
        load_file(path, **kwargs)  # type: ignore[arg-type]
    err = info.value
    assert isinstance(err, KnowledgeFormatError)
    assert err.code == code
    message = str(err)
    assert message.startswith(f"{path.name}: "), message
    for fragment in fragments:
        assert fragment in message, message
    return err


# --- formats that load ---------------------------------------------------------------------------


def test_pdf_text_per_page_with_outline_headings(tmp_path: Path) -> None:
    path = tmp_path / "parking.pdf"
    path.write_bytes(
        _pdf_bytes(
            [["Short-term parking costs 10 yuan per hour."], ["Call the lost and found desk at gate B12."]],
            title="Yunhai parking guide",
            outline=["Parking", "Lost and found"],
        )
    )
    [doc] = load_file(path, category="parking")
    assert (doc.doc_key, doc.lang, doc.kind, doc.title, doc.category) == (
        "parking",
        "en",
        "document",
        "Yunhai parking guide",
        "parking",
    )
    assert doc.body.index("# Parking") < doc.body.index("10 yuan") < doc.body.index("# Lost and found")
    assert doc.body.index("# Lost and found") < doc.body.index("gate B12")
    assert [c.section for c in chunk_document(doc)] == ["Parking", "Lost and found"]


def test_docx_headings_become_markdown_and_tables_rows(tmp_path: Path) -> None:
    document = docx.Document()
    document.add_heading("云海国际机场行李指南", level=1)
    document.add_paragraph("充电宝只能随身携带，严禁托运。")
    document.add_heading("超大行李", level=2)
    document.add_paragraph("超大行李请到T2航站楼3号柜台办理托运。")
    table = document.add_table(rows=2, cols=2)
    for row, cells in zip(table.rows, (("物品", "规定"), ("充电宝", "随身携带")), strict=True):
        for cell, text in zip(row.cells, cells, strict=True):
            cell.text = text
    path = tmp_path / "baggage.docx"
    document.save(str(path))
    [doc] = load_file(path)
    assert doc.lang == "zh"
    assert doc.title == "云海国际机场行李指南"
    assert "# 云海国际机场行李指南" in doc.body
    assert "## 超大行李" in doc.body
    assert "物品 | 规定\n充电宝 | 随身携带" in doc.body
    assert "云海国际机场行李指南 / 超大行李" in {c.section for c in chunk_document(doc)}


def test_html_main_text_with_all_active_content_removed(tmp_path: Path) -> None:
    path = tmp_path / "wifi.html"
    path.write_text(
        """<!DOCTYPE html><html><head><title>Yunhai Wi-Fi</title>
        <style>body { color: red }</style><script>alert('head')</script></head>
        <body onload="steal()"><nav>Home | Flights | Shops</nav><article>
        <h1>Free Wi-Fi at Yunhai International Airport</h1>
        <p>Connect to Yunhai-Free and open any page. <a href="javascript:alert('link')">Details</a></p>
        <img src="x.png" onerror="alert('img')">
        <h2>Time limit</h2>
        <p>Each session lasts four hours.<script>document.write('inline')</script></p>
        <p onclick="alert('click')">Ask at the information desk if the portal does not open.</p>
        <p>Escaped text: &lt;script&gt;alert('text')&lt;/script&gt; and &lt;img src=x onerror=alert(1)&gt;.</p>
        <iframe src="javascript:alert('frame')"></iframe>
        </article></body></html>""",
        encoding="utf-8",
    )
    [doc] = load_file(path)
    assert doc.title == "Yunhai Wi-Fi"
    assert "Connect to Yunhai-Free" in doc.body
    assert "## Time limit" in doc.body
    assert "Each session lasts four hours." in doc.body
    stored = f"{doc.title}\n{doc.body}".lower()
    for active in ("<script", "script>", "onerror", "onload", "onclick", "javascript:", "<img", "<iframe"):
        assert active not in stored, active
    for payload in ("head", "link", "img')", "inline", "click')", "frame", "color: red"):
        assert payload not in stored, payload


def test_markdown_with_front_matter_reuses_the_folder_loader(tmp_path: Path) -> None:
    path = tmp_path / "lounge.md"
    path.write_text("---\nid: lounge\nlang: en\ntitle: Lounges\ncategory: services\n---\n# Lounges\nOpen 24h.\n")
    [doc] = load_file(path)
    assert (doc.doc_key, doc.title, doc.category, doc.body) == ("lounge", "Lounges", "services", "# Lounges\nOpen 24h.")


def test_markdown_without_front_matter_takes_first_heading_as_title(tmp_path: Path) -> None:
    path = tmp_path / "Pet Travel.md"
    path.write_text("Intro line that is not a heading.\n\n# Travelling with pets\n\nPets travel in the hold.\n")
    [doc] = load_file(path, doc_key="pets")
    assert (doc.doc_key, doc.lang, doc.title) == ("pets", "en", "Travelling with pets")
    assert load_file(path)[0].doc_key == "pet-travel"


def test_utf8_and_gbk_text_read_the_same(tmp_path: Path) -> None:
    utf8, gbk = tmp_path / "parking-utf8.txt", tmp_path / "parking-gbk.txt"
    utf8.write_text(ZH_TEXT, encoding="utf-8")
    gbk.write_bytes(ZH_TEXT.encode("gbk"))
    [a], [b] = load_file(utf8), load_file(gbk)
    assert a.body == b.body == ZH_TEXT
    assert a.lang == b.lang == "zh"
    assert a.title == "云海国际机场停车指南"


def test_csv_faq_columns_and_similar_question_separators(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text(
        "id,lang,category,question,similar_questions,answer\n"
        "powerbank,zh,baggage,充电宝能带上飞机吗？,充电宝能托运吗；两万毫安的能带吗|移动电源能带吗,充电宝只能随身携带，严禁托运。\n"
        "powerbank,en,baggage,Can I bring a power bank?,Can I check in a power bank?,Only in carry-on baggage.\n"
        ",,,Where is the Yunhai taxi rank?,,Outside door 5 on the arrivals level.\n",
        encoding="utf-8-sig",  # Excel's "CSV UTF-8"
    )
    docs = load_file(path, category="general")
    assert [(d.doc_key, d.lang, d.kind, d.category) for d in docs] == [
        ("powerbank", "zh", "faq", "baggage"),
        ("powerbank", "en", "faq", "baggage"),
        ("faq-3", "en", "faq", "general"),
    ]
    assert docs[0].similar_questions == ("充电宝能托运吗", "两万毫安的能带吗", "移动电源能带吗")
    assert docs[0].title == "充电宝能带上飞机吗？"
    assert docs[0].body == "充电宝只能随身携带，严禁托运。"


def test_json_faq_delegates_to_the_folder_loader(tmp_path: Path) -> None:
    path = tmp_path / "faq.json"
    entry = {"id": "wifi", "lang": "zh", "question": "机场有免费WiFi吗？", "answer": "有，连接Yunhai-Free即可。"}
    path.write_text(json.dumps([entry], ensure_ascii=False), encoding="utf-8")
    [doc] = load_file(path)
    assert (doc.doc_key, doc.kind, doc.title) == ("wifi", "faq", "机场有免费WiFi吗？")


def test_language_detection_by_cjk_share() -> None:
    assert detect_language("云海国际机场T2航站楼提供免费 Wi-Fi，网络名称为 Yunhai-Free。") == "zh"
    assert detect_language("Yunhai International Airport (云海国际机场) has free Wi-Fi in all terminals.") == "en"
    assert detect_language("2026-11-23 10:00") is None


def test_duplicate_upload_has_the_same_fingerprint(tmp_path: Path) -> None:
    first, again, other = tmp_path / "parking.txt", tmp_path / "copy of parking.txt", tmp_path / "other.txt"
    first.write_text(ZH_TEXT, encoding="utf-8")
    again.write_bytes(ZH_TEXT.replace("\n", "\r\n").encode("gbk"))  # another name, encoding and line ends
    other.write_text(ZH_TEXT + "\n国际到达出口在一楼。", encoding="utf-8")
    fingerprint = content_fingerprint(load_file(first))
    assert len(fingerprint) == 64
    assert content_fingerprint(load_file(again, doc_key="x", category="c")) == fingerprint
    assert content_fingerprint(load_file(other)) != fingerprint


# --- bad input -----------------------------------------------------------------------------------


def test_oversized_file_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "big.pdf"
    path.write_bytes(b"not even a pdf " * 200)  # 3,000 bytes; parsing would fail differently
    _refused(path, "too_large", "2.9 KB is over the 2 KB limit (SKYCALL_KB_MAX_UPLOAD_MB)", max_bytes=2048)


@pytest.mark.parametrize("content", [b"", b" \n\r\n\t"])
def test_empty_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(content)
    _refused(path, "empty", "the file is empty")


def test_encrypted_pdf_is_refused_without_guessing_the_password(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(_pdf_bytes([["Staff only: gate codes."]]))))
    writer.encrypt("s3cret", algorithm="RC4-128")
    path = tmp_path / "report.pdf"
    with path.open("wb") as fh:
        writer.write(fh)
    _refused(path, "encrypted_pdf", "the PDF is encrypted; remove the password and upload it again")


def test_truncated_pdf_is_corrupt(tmp_path: Path) -> None:
    data = _pdf_bytes([["Check-in closes 45 minutes before departure."]])
    path = tmp_path / "checkin.pdf"
    path.write_bytes(data[: len(data) // 2])
    _refused(path, "corrupt_pdf", "the PDF is damaged or not a PDF", "upload it again")


def test_file_named_pdf_that_is_not_a_pdf(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_text("hello", encoding="utf-8")
    _refused(path, "corrupt_pdf", "no %PDF- header")


def test_pdf_without_text_suggests_ocr(tmp_path: Path) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(_pdf_bytes([[]]))
    _refused(path, "no_text", "scanned PDF", "OCR")


def test_docx_zip_bomb_refused_from_the_zip_directory(tmp_path: Path) -> None:
    path = tmp_path / "manual.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        with zf.open("word/document.xml", "w", force_zip64=True) as member:
            zeros = bytes(1024 * 1024)
            for _ in range(210):
                member.write(zeros)
    assert path.stat().st_size < 1024 * 1024
    _refused(path, "zip_bomb", "the archive expands to 210 MB (limit 200 MB): refusing a possible zip bomb")


def test_docx_member_with_bomb_ratio_refused_under_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "manual.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", bytes(8 * 1024 * 1024))
    _refused(path, "zip_bomb", "word/document.xml is compressed", "refusing a possible zip bomb")


def test_non_zip_named_docx(tmp_path: Path) -> None:
    path = tmp_path / "old.docx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 512)  # an old binary .doc
    _refused(path, "not_docx", "not a zip archive", "save it as .docx")


def test_zip_that_is_not_a_word_document(tmp_path: Path) -> None:
    path = tmp_path / "photos.docx"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.txt", "hello")
    _refused(path, "not_docx", "no word/document.xml")


def test_undecodable_text_asks_for_utf8(tmp_path: Path) -> None:
    path = tmp_path / "menu.txt"
    path.write_bytes("Café crème brûlée, façade naïve. ".encode("cp1252") * 4)
    _refused(path, "encoding", "neither UTF-8 nor GBK/GB18030", "save it as UTF-8")


def test_binary_content_in_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "data.txt"
    path.write_bytes(b"abc\x00\x00\x01def")
    _refused(path, "binary", "binary file")


def test_unknown_extension(tmp_path: Path) -> None:
    path = tmp_path / "timetable.xlsx"
    path.write_bytes(b"some bytes")
    _refused(path, "unsupported_type", "unsupported file type .xlsx", "PDF, DOCX, HTML")


def test_csv_faq_without_answer_column(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text("question,similar_questions\n充电宝能带吗？,\n", encoding="utf-8")
    _refused(path, "bad_faq", "the header row lacks answer", "fix the CSV")


def test_csv_faq_row_without_answer(tmp_path: Path) -> None:
    path = tmp_path / "faq.csv"
    path.write_text("question,answer\nWhere is gate B12?,Pier B.\nWhere is the taxi rank?,\n", encoding="utf-8")
    _refused(path, "bad_faq", "row 2 (line 3) needs both a question and an answer")


def test_bad_lang_argument(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello", encoding="utf-8")
    with pytest.raises(FileRejectedError, match=r"notes.txt: lang must be one of zh, en, got 'ja'"):
        load_file(path, lang="ja")


def test_json_faq_error_names_the_file_not_its_path(tmp_path: Path) -> None:
    path = tmp_path / "faq.json"
    path.write_text('[{"id": "wifi", "lang": "zh", "question": "机场有WiFi吗？"}]', encoding="utf-8")
    err = _refused(path, "bad_faq", "entry 0 needs id, lang, question and answer", "upload it again")
    assert str(tmp_path) not in str(err)


def test_markdown_front_matter_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lounge.md"
    path.write_text("---\nid: lounge\ntitle: Lounges\n---\nOpen 24h.\n", encoding="utf-8")
    _refused(path, "bad_markdown", "front matter lacks lang")


def test_html_saved_as_txt_is_sniffed_and_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    html = (
        "<!DOCTYPE html><html><head><meta charset='gbk'><title>云海国际机场</title></head><body>"
        "<h1>云海国际机场失物招领</h1><p>失物招领处位于T2航站楼到达层3号门旁，开放时间为每天8点至22点。</p>"
        "<script>alert('x')</script></body></html>"
    )
    path.write_bytes(html.encode("gbk"))
    [doc] = load_file(path)
    assert (doc.lang, doc.title) == ("zh", "云海国际机场")
    assert "失物招领处位于T2航站楼到达层3号门旁" in doc.body
    assert "alert" not in doc.body and "<" not in doc.body
