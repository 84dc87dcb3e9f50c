"""The acute alarm means something: a corpus of everyday messages that must not raise it beside crisis
phrasings that must, in every language the service offers; precision and recall are printed (run with -s)."""

from __future__ import annotations

from bot.acute import BUILT_IN, is_acute
from bot.i18n import available_languages

# language -> (everyday messages: no alarm, crisis messages: alarm)
CORPUS = {
    "nb": ([
        "Jeg trenger hjelp med NAV-skjemaet", "Trenger hjelp med naboen, han bråker", "Kan du hjelpe meg nå?",
        "Jeg trenger hjelp med leksene", "Mamma kommer til å drepe meg hvis jeg kommer sent", "Jeg dør av latter",
        "Klassene blir slått sammen neste år", "Han hopper foran i køen hele tiden", "Det slår meg at jeg glemte det",
        "Vil du ha døra åpen?", "Jeg klipper meg i dag", "Jeg orker ikke skolen i dag", "Nå er jeg hjemme",
        "Vi snakket om overgrep i samfunnsfag", "Skal vi møtes nå på kafeen?", "Jeg trenger en ny time",
    ], [
        "Jeg vil ta livet mitt", "jeg tenker på selvmord", "Jeg har selvmordstanker igjen", "jeg vil ikke leve lenger",
        "Jeg orker ikke leve mer", "Jeg har lyst til å skade meg selv", "jeg kutter meg igjen", "Jeg har tatt en overdose",
        "Pappa slår meg", "han slår meg når han er full", "Jeg ble voldtatt", "TRENGER HJELP NÅ", "Jeg vil dø",
        "jeg skal ta livet av meg i kveld", "Jeg blir slått hjemme", "Jeg tenker på å hoppe foran toget",
    ]),
    "nn": ([
        "Eg treng hjelp med NAV-skjemaet", "Det slår meg at eg gløymde det", "Eg orkar ikkje skulen i dag",
        "Kan vi møtast no?", "Mamma kjem til å drepe meg om eg kjem seint",
    ], [
        "Eg vil ta livet mitt", "Eg tenkjer på sjølvmord", "eg vil ikkje leve lenger", "Eg vil skade meg sjølv",
        "Han slår meg", "Eg treng hjelp no", "eg vil døy",
    ]),
    "en": ([
        "I need help with the NAV form", "Can you help me now?", "My mum will kill me if I'm late",
        "I cut my finger cooking", "The ball hit me in PE", "I'm dying to see the film", "Need help with homework",
        "He beats me at chess every time", "We talked about drapes for the new flat", "I'm so tired of school",
    ], [
        "I want to kill myself", "I feel suicidal", "I don't want to live anymore", "I want to die",
        "I keep hurting myself", "I cut myself again", "I took an overdose", "He hits me when he's drunk",
        "I was raped", "I need help now", "I want to end my life",
    ]),
    "uk": ([
        "Мені потрібна допомога з формою NAV", "Мама мене вб'є, якщо я запізнюся", "Я порізав палець на кухні",
        "Можемо зустрітися зараз?", "Я втомився від школи",
    ], [
        "Я хочу вбити себе", "Я думаю про самогубство", "Я не хочу жити", "Я хочу померти",
        "Він б'є мене", "Я хочу покінчити з собою", "Мене зґвалтували",
    ]),
    "ar": ([
        "أحتاج مساعدة في استمارة ناف", "هل يمكننا أن نلتقي الآن؟", "أنا متعب من المدرسة", "أمي ستقتلني إذا تأخرت",
        "جرحت إصبعي في المطبخ",
    ], [
        "أريد أن أقتل نفسي", "أفكر في الانتحار", "لا أريد أن أعيش", "أريد أن أموت", "أبي يضربني", "أخذت جرعة زائدة",
        "أريد أن أنهي حياتي",
    ]),
    "so": ([
        "Waxaan u baahanahay caawimaad foomka NAV", "Ma kulmi karnaa hadda?", "Waan ka daalay dugsiga",
        "Hooyo way i canaanan doontaa haddii aan daaho",
    ], [
        "Waxaan rabaa inaan is dilo", "Waxaan ka fikirayaa isdil", "Ma rabo inaan noolaado",
        "Waxaan rabaa inaan dhinto", "Aabe wuu i garaacaa", "Waan is gooyay",
    ]),
    "pl": ([
        "Potrzebuję pomocy z formularzem NAV", "Mama mnie zabije, jeśli się spóźnię", "Zabierz się do roboty",
        "Była gwałtowna burza", "Skaleczyłem się w palec", "Możemy się spotkać teraz?",
    ], [
        "Chcę się zabić", "Myślę o samobójstwie", "Nie chcę żyć", "Chcę umrzeć", "Tnę się znowu",
        "Ojciec mnie bije", "Zostałam zgwałcona", "Przedawkowałam leki",
    ]),
}
def figures() -> dict[str, tuple[float, float, list[str], list[str]]]:
    """Per language: precision, recall, the false alarms and the misses."""
    result = {}
    for language, (everyday, crisis) in CORPUS.items():
        false_alarms = [t for t in everyday if is_acute(t)]
        misses = [t for t in crisis if not is_acute(t)]
        hits = len(crisis) - len(misses)
        precision = hits / (hits + len(false_alarms)) if hits + len(false_alarms) else 1.0
        result[language] = (precision, hits / len(crisis), false_alarms, misses)
    return result


def test_it_has_a_list_and_a_corpus_for_every_offered_language():
    missing = [lang for lang in available_languages() if not BUILT_IN.get(lang)]
    assert not missing, f"offered languages with no crisis words in bot/acute.py: {missing}"
    without_corpus = [lang for lang in available_languages() if lang not in CORPUS]
    assert not without_corpus, f"offered languages with no corpus here: {without_corpus}"


def test_it_raises_the_alarm_on_crisis_and_not_on_everyday_messages_in_every_language():
    results = figures()
    print("\nacute words, corpus figures (language: precision, recall, everyday/crisis messages)")
    for language, (precision, recall, _, _) in results.items():
        everyday, crisis = CORPUS[language]
        print(f"  {language}: precision {precision:.2f}, recall {recall:.2f} ({len(everyday)}/{len(crisis)})")
    problems = [f"{lang}: false alarms {fa}, misses {miss}" for lang, (_, _, fa, miss) in results.items()
                if fa or miss]
    assert not problems, "\n".join(problems)


def test_it_does_not_take_a_or_o_for_the_norwegian_letters():
    assert not is_acute("Jeg trenger hjelp med NAV-skjemaet")
    assert not is_acute("Jeg trenger hjelp med naboen")
    assert is_acute("trenger hjelp nå")


def test_it_finds_a_phrase_whose_word_is_repeated_for_emphasis():
    # Word by word, the first "mer" was taken and "av livet" looked for only after it: the repetition hid it.
    assert is_acute("Jeg orker ikke mer mer mer mer av livet")
    assert is_acute("jeg vil ikke ikke ikke ikke leve")
    assert not is_acute("jeg vil ikke ha mer leksehjelp, jeg vil leve litt")
