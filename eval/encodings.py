"""How surely rag/encodings.py reads files in legacy encodings: news-like texts written
for this measurement, encoded in the encodings their languages were saved in, and byte
strings that must not be read as text. Prints, per set, how many are read right, skipped
(not sure) and read wrong. No model, a second or two.

    python -m eval.encodings

Three sets, written at three times (docs/robustness.md, 2026-12-07): DEV, on which the
rules were chosen; HELD_OUT, which showed three wrong readings of the first rules (Czech
and Hungarian read as windows-1252) and so led to the accented-letter rule; FRESH, written
after the rules were fixed and run once.
"""

from __future__ import annotations

import random
import sys
import zlib
from collections import Counter

DEV = {
    'fr': [
        "Le conseil municipal a voté mardi la rénovation du pont, dont le coût est estimé à 3,5 millions d'euros.",
        "Les travaux commenceront en été et dureront près d'un an, a précisé l'adjointe chargée des transports.",
        "Pendant ce temps, les piétons emprunteront une passerelle provisoire installée à côté de l'écluse.",
        'Selon la préfecture, la circulation des poids lourds sera déviée par la rocade nord dès la mi-juin.',
    ],
    'de': [
        'Die Stadtverwaltung kündigte am Montag an, dass die Brücke über den Fluss bis Ende März gesperrt bleibt.',
        'Pendler müssen Umwege in Kauf nehmen; die Busse fahren während der Bauzeit über die Südstraße.',
        'Der Bürgermeister sagte, die Kosten von rund vier Millionen Euro trage überwiegend das Land.',
        'Anwohner äußerten Verständnis, beklagten aber den Lärm der nächtlichen Arbeiten.',
    ],
    'es': [
        'El ayuntamiento aprobó el miércoles un presupuesto de 12 millones de euros para ampliar la biblioteca pública.',
        'La alcaldesa explicó que las obras empezarán en otoño y que la sala de lectura seguirá abierta.',
        'Según los técnicos, el edificio ganará 800 metros cuadrados y una terraza con vistas al río.',
        'Los vecinos de la zona pidieron más plazas de aparcamiento y un carril para bicicletas.',
    ],
    'en': [
        'The council said on Tuesday that the “new” ferry terminal – delayed twice – would open in May.',
        'Tickets will cost €4.50 for adults… and children under twelve travel free, a spokeswoman said.',
        'Critics called the plan ‘too little, too late’, citing the £2m overspend on the car park.',
        'The operator expects 1.2 million passengers a year once the second berth is finished.',
    ],
    'pl': [
        'Rada miasta zatwierdziła we wtorek plan remontu mostu, którego koszt oszacowano na 14 milionów złotych.',
        'Prace rozpoczną się latem i potrwają prawie rok, poinformował zastępca prezydenta miasta.',
        'Piesi będą w tym czasie korzystać z tymczasowej kładki ustawionej obok śluzy.',
        'Według urzędników ruch ciężarówek zostanie skierowany na obwodnicę północną.',
    ],
    'ru': [
        'Городской совет во вторник одобрил план ремонта моста стоимостью около трёхсот миллионов рублей.',
        'Работы начнутся летом и продлятся почти год, сообщил заместитель мэра по транспорту.',
        'На это время пешеходы будут пользоваться временным мостиком рядом со шлюзом.',
        'По словам чиновников, грузовики направят в объезд по северной кольцевой дороге.',
    ],
    'el': [
        'Το δημοτικό συμβούλιο ενέκρινε την Τρίτη το σχέδιο ανακαίνισης της γέφυρας.',
        'Οι εργασίες θα ξεκινήσουν το καλοκαίρι και θα διαρκέσουν σχεδόν έναν χρόνο.',
        'Στο μεταξύ οι πεζοί θα χρησιμοποιούν μια προσωρινή πεζογέφυρα δίπλα στο φράγμα.',
        'Σύμφωνα με τον δήμαρχο, το κόστος θα καλυφθεί κυρίως από ευρωπαϊκά κονδύλια.',
    ],
    'tr': [
        'Belediye meclisi salı günü köprünün yenilenmesi planını onayladı; maliyetin 90 milyon lira olduğu tahmin ediliyor.',
        'Çalışmalar yazın başlayacak ve yaklaşık bir yıl sürecek, dedi ulaşımdan sorumlu başkan yardımcısı.',
        'Bu sürede yayalar savak yanına kurulan geçici bir yaya köprüsünü kullanacak.',
        'Yetkililere göre kamyon trafiği kuzey çevre yoluna yönlendirilecek.',
    ],
    'ja': [
        '市議会は火曜日、駅前広場の改修計画を承認した。',
        '工事は来年春に始まり、費用は約三億円と見込まれている。',
        '工事期間中、バス乗り場は北口のロータリーに移される予定だ。',
        '市の担当者は「利用者の皆さまにはご不便をおかけします」と話している。',
    ],
    'zh': [
        '市政府周二宣布，新图书馆将于明年春季开放。',
        '该馆预计每年接待读者五十万人次，并设有儿童阅览区和自习室。',
        '施工期间，附近的公交站将临时迁至北侧路口。',
        '负责人表示，工程总投资约为两亿元人民币。',
    ],
    'zh_hant': [
        '市政府週二宣布，新圖書館將於明年春季開放。',
        '該館預計每年接待讀者五十萬人次，並設有兒童閱覽區和自習室。',
        '施工期間，附近的公車站將臨時遷至北側路口。',
        '負責人表示，工程總投資約為兩億元新臺幣。',
    ],
    'ko': [
        '시의회는 화요일 역 앞 광장의 개보수 계획을 승인했다.',
        '공사는 내년 봄에 시작되며 비용은 약 30억 원으로 예상된다.',
        '공사 기간 동안 버스 정류장은 북쪽 출구로 옮겨질 예정이다.',
        '시 관계자는 시민들의 양해를 부탁한다고 말했다.',
    ],
}
DEV_ENCODINGS = {
    'fr': ['latin-1', 'cp1252', 'iso8859-15'],
    'de': ['latin-1', 'cp1252', 'iso8859-15'],
    'es': ['latin-1', 'cp1252'],
    'en': ['cp1252'],
    'pl': ['cp1250', 'iso8859-2'],
    'ru': ['cp1251', 'koi8-r'],
    'el': ['cp1253', 'iso8859-7'],
    'tr': ['cp1254', 'iso8859-9'],
    'ja': ['shift_jis', 'euc_jp', 'cp932'],
    'zh': ['gb18030', 'gbk', 'gb2312'],
    'zh_hant': ['big5', 'cp950'],
    'ko': ['euc_kr', 'cp949'],
}
HELD_OUT = {
    'it': ("Il comune ha annunciato giovedì che la piazza principale sarà chiusa al traffico per tre settimane. I lavori, che costeranno circa 800 mila euro, riguarderanno la pavimentazione e l'illuminazione. Secondo l'assessore, i negozi resteranno aperti e raggiungibili a piedi.",
        ['cp1252', 'latin-1']),
    'pt': ('A câmara municipal aprovou na quinta-feira a construção de uma nova estação de autocarros. As obras começam em setembro e deverão estar concluídas dentro de dezoito meses, disse o vereador. A população pediu também mais ligações nocturnas à periferia.',
        ['cp1252', 'latin-1']),
    'fr2': ("« Nous ne fermerons pas l'hôpital », a déclaré jeudi la ministre, après une réunion houleuse à Besançon. Les syndicats réclament 300 postes supplémentaires d'ici à l'été – une demande jugée « irréaliste » par la direction.",
        ['cp1252']),
    'de2': ('Nach dem Hochwasser im Frühjahr hat der Gemeinderat beschlossen, die Uferpromenade für 2,3 Millionen Euro zu erhöhen. Die Arbeiten sollen im Oktober beginnen; bis dahin bleibt der Radweg am Fluss gesperrt. Anwohner der Schützenstraße müssen während der Bauzeit mit Lärm rechnen.',
        ['cp1252', 'latin-1']),
    'cs': ('Městská rada ve čtvrtek schválila opravu mostu přes řeku, která bude stát přibližně 120 milionů korun. Práce začnou v létě a potrvají téměř rok, uvedl náměstek primátora pro dopravu. Chodci budou po dobu stavby využívat dočasnou lávku vedle jezu.',
        ['cp1250', 'iso8859-2']),
    'hu': ('A városi közgyűlés csütörtökön jóváhagyta a híd felújítását, amelynek költsége mintegy négymilliárd forint. A munkálatok nyáron kezdődnek, és csaknem egy évig tartanak, közölte a közlekedésért felelős alpolgármester.',
        ['cp1250', 'iso8859-2']),
    'uk': ('Міська рада в четвер схвалила ремонт мосту через річку, який коштуватиме близько ста мільйонів гривень. Роботи почнуться влітку і триватимуть майже рік, повідомив заступник міського голови.',
        ['cp1251', 'koi8-u']),
    'ru2': ('В пятницу в городе открылась новая станция метро, строительство которой заняло пять лет. По словам мэра, станция будет обслуживать до сорока тысяч пассажиров в день.',
        ['cp1251', 'koi8-r']),
    'he': ('מועצת העיר אישרה ביום חמישי את שיפוץ הגשר, שעלותו מוערכת בכשלושים מיליון שקלים. העבודות יתחילו בקיץ ויימשכו כשנה, אמר סגן ראש העיר.',
        ['cp1255', 'iso8859-8']),
    'ar': ('وافق مجلس المدينة يوم الخميس على ترميم الجسر الذي تقدر تكلفته بنحو عشرة ملايين دينار. وقال نائب رئيس البلدية إن الأعمال ستبدأ في الصيف وتستمر قرابة عام.',
        ['cp1256']),
    'vi': ('Hội đồng thành phố hôm thứ Năm đã phê duyệt kế hoạch sửa chữa cây cầu bắc qua sông. Công việc sẽ bắt đầu vào mùa hè và kéo dài gần một năm.',
        ['cp1258']),
    'th': ('สภาเมืองอนุมัติแผนซ่อมแซมสะพานข้ามแม่น้ำเมื่อวันพฤหัสบดี งานจะเริ่มในฤดูร้อนและใช้เวลาเกือบหนึ่งปี',
        ['cp874', 'tis-620']),
    'ja2': ('県は金曜日、老朽化した市民会館を建て替える方針を明らかにした。新しい会館は二〇二八年の完成を目指し、客席数は現在の約一・五倍となる予定だ。地元の商店街からは、工事中の客足の減少を心配する声も上がっている。',
        ['shift_jis', 'cp932', 'euc_jp']),
    'zh2': ('该市交通部门周五表示，地铁三号线延长段将于年底前试运行。新线路全长十二公里，设有八座车站，预计将缓解城东地区的交通压力。部分居民对施工噪音表示担忧。',
        ['gb18030', 'gbk', 'gb2312']),
    'zh_hant2': ('該市交通部門週五表示，捷運三號線延長段將於年底前試運行。新路線全長十二公里，設有八座車站，預計將緩解城東地區的交通壓力。部分居民對施工噪音表示擔憂。',
        ['big5', 'cp950']),
    'ko2': ('시 교통국은 금요일 지하철 3호선 연장 구간이 연말 전에 시험 운행에 들어간다고 밝혔다. 새 노선은 총 12킬로미터로 8개 역이 설치되며, 도시 동부의 교통 혼잡을 줄일 것으로 기대된다.',
        ['euc_kr', 'cp949']),
}
FRESH = {
    'fr': ('Météo-France a placé jeudi douze départements en vigilance orange pour des orages violents. Des rafales à 100 km/h et de la grêle sont attendues en fin de journée, notamment dans le Massif central. Les préfets ont demandé aux organisateurs de fêtes de village de reporter leurs événements.',
        ['cp1252', 'latin-1']),
    'es': ('La selección femenina ganó el sábado por dos goles a uno en un partido disputado bajo la lluvia. El segundo tanto llegó en el último minuto, tras un córner que la defensa no logró despejar. La entrenadora reconoció que el equipo «sufrió mucho» durante la primera mitad.',
        ['cp1252', 'latin-1']),
    'de': ('Die Inflationsrate ist im November überraschend auf 2,1 Prozent gesunken, teilte das Statistikamt mit. Vor allem Heizöl und Kraftstoffe waren günstiger als vor einem Jahr, während Lebensmittel teurer wurden. Ökonomen rechnen für das kommende Frühjahr mit einem leichten Anstieg.',
        ['cp1252', 'latin-1']),
    'sv': ('Regeringen föreslår att skatten på bensin sänks med 50 öre per liter från årsskiftet. Förslaget möttes av kritik från miljörörelsen, som menar att det går emot klimatmålen. Oppositionen vill i stället höja bidragen till kollektivtrafiken på landsbygden.',
        ['cp1252', 'latin-1']),
    'nl': ('Het kabinet heeft dinsdag besloten om de bouw van twee nieuwe kerncentrales voorlopig uit te stellen. Volgens de minister zijn de kosten sinds vorig jaar met bijna een derde gestegen. De oppositie spreekt van een „gemiste kans” voor de energietransitie.',
        ['cp1252']),
    'cs': ('Česká národní banka ve čtvrtek ponechala základní úrokovou sazbu beze změny na čtyřech procentech. Guvernér uvedl, že inflace se vrací k cíli pomaleji, než banka očekávala. Ekonomové přesto počítají se snížením sazeb v příštím roce.',
        ['cp1250', 'iso8859-2']),
    'ru': ('Центральный банк в пятницу сохранил ключевую ставку на прежнем уровне. По словам председателя, инфляция замедляется, но остаётся выше цели. Аналитики ожидают снижения ставки не раньше весны следующего года.',
        ['cp1251', 'koi8-r']),
    'ja': ('気象庁は木曜日、関東地方で梅雨明けしたとみられると発表した。平年より八日早く、昨年より三日遅い梅雨明けとなった。今後一週間は晴れて厳しい暑さが続く見込みで、熱中症への警戒を呼びかけている。',
        ['shift_jis', 'cp932', 'euc_jp']),
    'zh': ('国家统计局周三公布的数据显示，十一月份居民消费价格同比上涨百分之零点五。其中食品价格下降百分之一点二，能源价格有所回落。专家认为，明年物价将保持温和上涨。',
        ['gb18030', 'gbk', 'gb2312']),
    'zh_hant': ('中央氣象署週四發布豪雨特報，北部山區單日累積雨量可能超過三百毫米。民眾應避免前往山區及河川地區，並留意落石與土石流的危險。',
        ['big5', 'cp950']),
    'ko': ('기상청은 목요일 중부지방에 장마가 끝난 것으로 보인다고 발표했다. 평년보다 여드레 빠른 장마 종료로, 앞으로 일주일간 무더위가 이어질 전망이다.',
        ['euc_kr', 'cp949']),
}
_NO_SPACES = ("ja", "zh", "zh_hant")


def dev_samples() -> list[tuple[str, str, str, str]]:
    """(language, encoding, length, text): one sentence, a paragraph and a longer text."""
    out = []
    for lang, sentences in DEV.items():
        sep = "" if lang in _NO_SPACES else " "
        lengths = {"sentence": sentences[0], "paragraph": sep.join(sentences),
                    "article": "\n\n".join(sep.join(sentences[i:] + sentences[:i]) for i in range(4)) + "\n"}
        out += [(lang, enc, length, text) for enc in DEV_ENCODINGS[lang] for length, text in lengths.items()]
    return out


def held_out_samples() -> list[tuple[str, str, str, str]]:
    return [(lang, enc, "paragraph", text) for lang, (text, encs) in HELD_OUT.items() for enc in encs
            if _encodable(text, enc)]


def fresh_samples() -> list[tuple[str, str, str, str]]:
    return [(lang, enc, length, body) for lang, (text, encs) in FRESH.items() for enc in encs
            for length, body in (("paragraph", text), ("article", "\n\n".join([text] * 3)))]


def _encodable(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
        return True
    except UnicodeEncodeError:  # Vietnamese in windows-1258 needs combining marks
        return False


def not_text() -> dict[str, bytes]:
    """Bytes no encoding should be guessed for (and two mixes)."""
    rng = random.Random(3)
    return {
        "random bytes without NUL, 2,000": bytes(rng.randrange(1, 256) for _ in range(2000)),
        "random bytes over 0x7f, 500": bytes(rng.randrange(0x80, 256) for _ in range(500)),
        "random bytes without NUL, 40": bytes(rng.randrange(1, 256) for _ in range(40)),
        "zlib data without NUL": zlib.compress(b"The pier cost 4.2 million euros. " * 50).replace(b"\x00", b"\x01"),
        "UTF-8 German + Latin-1 French": "Der Bürgermeister sagte, die Kosten trage überwiegend das Land.".encode()
                                          + "\nLe conseil a voté mardi la rénovation du pont.".encode("latin-1"),
        "Shift_JIS Japanese + GBK Chinese": DEV["ja"][0].encode("shift_jis") + DEV["zh"][0].encode("gbk"),
        "English + an encoded surrogate": b"The pier opened. \xed\xa0\x80",
        "English + an overlong sequence": b"The pier opened. \xc0\xaf",
        "English + one Latin-1 byte": b"A long English article about the harbour, with one odd byte: \xff.",
    }


def measure(samples) -> tuple[Counter, list[str]]:
    from rag.encodings import read_legacy

    counts, wrong = Counter(), []
    for lang, encoding, length, text in samples:
        found = read_legacy(text.encode(encoding), html=False)
        outcome = "skipped" if found.text is None else "right" if found.text == text else "wrong"
        counts[outcome] += 1
        if outcome == "wrong":
            wrong.append(f"{lang} {encoding} {length} read as {found.encoding}")
    return counts, wrong


def main() -> int:
    from rag.encodings import read_legacy

    wrong_total = 0
    for name, samples in (("dev", dev_samples()), ("held out", held_out_samples()), ("fresh", fresh_samples())):
        counts, wrong = measure(samples)
        wrong_total += len(wrong)
        print(f"{name}: {len(samples)} samples: {counts['right']} read right, {counts['skipped']} skipped, "
              f"{counts['wrong']} read wrong{': ' + '; '.join(wrong) if wrong else ''}")
    for name, data in not_text().items():
        found = read_legacy(data, html=False)
        print(f"not text: {name}: " + (f"skipped ({found.why})" if found.text is None else f"read as {found.encoding}"))
    return 1 if wrong_total else 0


if __name__ == "__main__":
    sys.exit(main())
