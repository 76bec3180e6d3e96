"""The demo consortium: one prefecture (宜昌市, 4205) with a city hospital, two county hospitals,
thirteen township health centres and several village clinics.  Pure data; seeding is in demo.py."""

from decimal import Decimal

DEMO_PASSWORD = "consortium-demo-2026"
DEMO_INSURANCE_TOKEN = "demo-insurance-token-yichang"
DEMO_MEMBER_SYSTEM_TOKEN = "demo-his-token-mingfeng"
# The county office 远安县医疗保障事务中心: region 420525, the rural residents' scheme (URRBMI) only.
DEMO_COUNTY_INSURANCE_TOKEN = "demo-insurance-token-yuanan"

CONSORTIUM = {"code": "YC-YLT", "name": "宜昌市城乡医疗联合体", "region_code": "420500"}
INSURANCE_OFFICES = [
    {"code": "YC-YB", "name": "宜昌市医疗保障事务中心", "region_code": "420500"},
    {"code": "YA-YB", "name": "远安县医疗保障事务中心", "region_code": "420525"},
]

# (code, name, level, grade, region code, rural, parent code, address)
INSTITUTIONS = [
    ("YC-CH01", "宜昌市中心医院", "city_hospital", "tertiary_a", "420502", False, None, "西陵区夷陵大道183号"),
    ("YA-CH01", "远安县人民医院", "county_hospital", "secondary_a", "420525", False, None, "远安县鸣凤镇凤阳路18号"),
    ("ZG-CH01", "秭归县人民医院", "county_hospital", "secondary_a", "420527", False, None, "秭归县茅坪镇长宁大道26号"),
    ("YA-MF", "远安县鸣凤镇卫生院", "township_health_centre", "primary", "420525", True, None, "远安县鸣凤镇"),
    ("YA-HLS", "远安县花林寺镇卫生院", "township_health_centre", "primary", "420525", True, None, "远安县花林寺镇"),
    ("YA-JX", "远安县旧县镇卫生院", "township_health_centre", "primary", "420525", True, None, "远安县旧县镇"),
    ("YA-YP", "远安县洋坪镇卫生院", "township_health_centre", "primary", "420525", True, None, "远安县洋坪镇"),
    ("YA-MPC", "远安县茅坪场镇卫生院", "township_health_centre", "primary", "420525", True, None, "远安县茅坪场镇"),
    ("YA-LZ", "远安县嫘祖镇卫生院", "township_health_centre", "primary", "420525", True, None, "远安县嫘祖镇"),
    ("YA-HK", "远安县河口乡卫生院", "township_health_centre", "primary", "420525", True, None, "远安县河口乡"),
    ("ZG-MP", "秭归县茅坪镇卫生院", "township_health_centre", "primary", "420527", True, None, "秭归县茅坪镇"),
    ("ZG-GZ", "秭归县归州镇卫生院", "township_health_centre", "primary", "420527", True, None, "秭归县归州镇"),
    ("ZG-QY", "秭归县屈原镇卫生院", "township_health_centre", "primary", "420527", True, None, "秭归县屈原镇"),
    ("ZG-SZX", "秭归县沙镇溪镇卫生院", "township_health_centre", "primary", "420527", True, None, "秭归县沙镇溪镇"),
    ("ZG-LHK", "秭归县两河口镇卫生院", "township_health_centre", "primary", "420527", True, None, "秭归县两河口镇"),
    ("ZG-GJB", "秭归县郭家坝镇卫生院", "township_health_centre", "primary", "420527", True, None, "秭归县郭家坝镇"),
    ("YA-MF-FY", "鸣凤镇凤阳村卫生室", "village_clinic", "ungraded", "420525", True, "YA-MF", "远安县鸣凤镇凤阳村"),
    ("YA-MF-JZX", "鸣凤镇九子溪村卫生室", "village_clinic", "ungraded", "420525", True, "YA-MF", "远安县鸣凤镇九子溪村"),
    ("YA-HLS-DS", "花林寺镇读书村卫生室", "village_clinic", "ungraded", "420525", True, "YA-HLS", "远安县花林寺镇读书村"),
    ("ZG-GZ-XT", "归州镇香溪村卫生室", "village_clinic", "ungraded", "420527", True, "ZG-GZ", "秭归县归州镇香溪村"),
    ("ZG-QY-LP", "屈原镇乐平里村卫生室", "village_clinic", "ungraded", "420527", True, "ZG-QY", "秭归县屈原镇乐平里村"),
]

# Physicians the hospitals station at township centres: (name, specialty, from, to, months before today it
# started, months it lasts or None while ongoing).
SECONDMENTS = [
    ("王建华", "心血管内科", "YC-CH01", "YA-MF", 5, 6),
    ("李秀英", "内分泌科", "YA-CH01", "YA-HLS", 3, None),
    ("陈志强", "全科医学科", "YA-CH01", "YA-JX", 8, 3),
    ("刘芳", "儿科", "ZG-CH01", "ZG-GZ", 2, None),
]

# Villages each institution's patients come from (address and matching use them).
VILLAGES = {
    "YA-MF": ["凤阳村", "九子溪村", "鸣凤村", "太平村"],
    "YA-HLS": ["读书村", "花林寺村", "黄家坪村"],
    "YA-JX": ["旧县村", "鹿苑村", "高楼村"],
    "YA-YP": ["洋坪村", "苟家垭村", "咸水村"],
    "YA-MPC": ["茅坪场村", "板凳垭村"],
    "YA-LZ": ["嫘祖村", "苟家垭村", "望家村"],
    "YA-HK": ["河口村", "付家湾村"],
    "ZG-MP": ["九里村", "月亮包村", "兰陵溪村"],
    "ZG-GZ": ["香溪村", "万古寺村", "向家店村"],
    "ZG-QY": ["乐平里村", "西陵峡村", "屈原村"],
    "ZG-SZX": ["沙镇溪村", "千将坪村"],
    "ZG-LHK": ["两河口村", "三渡河村"],
    "ZG-GJB": ["郭家坝村", "烟灯堡村", "擂鼓台村"],
    "YA-MF-FY": ["凤阳村"],
    "YA-MF-JZX": ["九子溪村"],
    "YA-HLS-DS": ["读书村"],
    "ZG-GZ-XT": ["香溪村"],
    "ZG-QY-LP": ["乐平里村"],
    "YC-CH01": ["西陵街道", "学院街道", "夜明珠街道"],
    "YA-CH01": ["鸣凤镇城区"],
    "ZG-CH01": ["茅坪镇城区"],
}

CITY_DEPARTMENTS = [
    ("CARD", "心血管内科"),
    ("NEUR", "神经内科"),
    ("RESP", "呼吸与危重症医学科"),
    ("ENDO", "内分泌科"),
    ("ORTH", "骨科"),
    ("GSUR", "普通外科"),
    ("OBGY", "妇产科"),
    ("PEDI", "儿科"),
    ("EMER", "急诊科"),
    ("REHA", "康复医学科"),
]
COUNTY_DEPARTMENTS = [
    ("INTM", "内科"),
    ("SURG", "外科"),
    ("OBGY", "妇产科"),
    ("PEDI", "儿科"),
    ("EMER", "急诊科"),
    ("REHA", "康复科"),
]
TOWNSHIP_DEPARTMENTS = [("GP", "全科"), ("TCM", "中医科"), ("PHC", "预防保健科")]
VILLAGE_DEPARTMENTS = [("GP", "全科诊室")]

# (username, display name, role, institution code or None, department code, extra scope)
DEMO_LOGINS = [
    ("mingfeng_doctor", "刘建华", "clinic_clinician", "YA-MF", "GP", {}),
    ("mingfeng_clerk", "王晓燕", "clinic_clerk", "YA-MF", None, {}),
    ("fengyang_doctor", "陈德明", "clinic_clinician", "YA-MF-FY", "GP", {}),
    ("jiuzixi_doctor", "邓志荣", "clinic_clinician", "YA-MF-JZX", None, {}),
    ("mingfeng_public_health", "李芳", "public_health_worker", "YA-MF", None, {}),
    ("guizhou_doctor", "向春梅", "clinic_clinician", "ZG-GZ", "GP", {}),
    ("city_coordinator", "李静", "referral_coordinator", "YC-CH01", None, {}),
    ("city_admin", "赵国庆", "hospital_administrator", "YC-CH01", None, {}),
    ("yuanan_coordinator", "周敏", "referral_coordinator", "YA-CH01", None, {}),
    ("yichang_insurance", "孙丽", "insurance_officer", None, None, {"insurance_office": "YC-YB"}),
    ("consortium_admin", "黄志远", "consortium_administrator", None, None, {"consortium": "YC-YLT"}),
    ("consortium_admin2", "蒋文华", "consortium_administrator", None, None, {"consortium": "YC-YLT"}),
    ("privacy_officer", "吴晓梅", "privacy_officer", None, None, {"consortium": "YC-YLT"}),
    ("city_radiologist", "王明远", "diagnostic_reader", "YC-CH01", None, {}),
    ("city_radiologist_senior", "郑国华", "diagnostic_reader", "YC-CH01", None, {}),
    ("city_ecg_reader", "何文静", "diagnostic_reader", "YC-CH01", None, {}),
    ("yuanan_lab_reader", "邓小兰", "diagnostic_reader", "YA-CH01", None, {}),
]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余"
    "杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛段雷侯龙史"
    "陶黎贺顾毛郝龚邵万覃向"
)
GIVEN_MALE = "伟强磊军勇杰涛明超刚平辉鹏华建国文斌波宇浩俊峰林德忠红春发志荣"
GIVEN_FEMALE = "芳娜敏静丽艳娟霞秀英玲桂兰梅琴燕红萍雪婷慧莉凤翠云珍"

# (ICD-10 code, description, chief complaint)
DIAGNOSES = [
    ("J06.9", "急性上呼吸道感染", "发热、咽痛两天"),
    ("I10", "特发性（原发性）高血压", "头晕，血压控制不佳"),
    ("E11.9", "2型糖尿病，不伴有并发症", "口干多饮，复查血糖"),
    ("K29.7", "胃炎", "上腹部隐痛一周"),
    ("M54.5", "下背痛", "腰痛反复发作"),
    ("J20.9", "急性支气管炎", "咳嗽咳痰五天"),
    ("I25.1", "动脉硬化性心脏病", "活动后胸闷"),
    ("N39.0", "泌尿道感染", "尿频尿急两天"),
    ("J44.9", "慢性阻塞性肺病", "气喘加重"),
    ("I63.9", "脑梗死", "左侧肢体无力"),
    ("M17.9", "膝关节病", "双膝疼痛，上下楼加重"),
    ("K80.2", "胆囊结石不伴有胆囊炎", "右上腹不适"),
]

# (item code, name, category, catalogue class, unit price)
CHARGE_CATALOGUE = [
    ("ZL001", "普通门诊诊查费", "consultation", "A", Decimal("10.00")),
    ("XY001", "阿莫西林胶囊 0.25g×24粒", "drug", "A", Decimal("12.50")),
    ("XY002", "硝苯地平缓释片 20mg×30片", "drug", "A", Decimal("18.60")),
    ("XY003", "盐酸二甲双胍片 0.5g×60片", "drug", "A", Decimal("15.20")),
    ("XY004", "阿托伐他汀钙片 20mg×7片", "drug", "B", Decimal("28.40")),
    ("XY005", "头孢克肟分散片 0.1g×6片", "drug", "B", Decimal("22.80")),
    ("ZY001", "复方甘草口服溶液 100ml", "drug", "A", Decimal("6.50")),
    ("ZY002", "连花清瘟胶囊 0.35g×24粒", "drug", "B", Decimal("14.80")),
    ("JC001", "血常规", "laboratory", "A", Decimal("20.00")),
    ("JC002", "空腹血糖", "laboratory", "A", Decimal("8.00")),
    ("JC003", "常规心电图检查", "examination", "A", Decimal("25.00")),
    ("JC004", "胸部X线摄影", "examination", "A", Decimal("60.00")),
    ("JC005", "彩色多普勒超声检查", "examination", "B", Decimal("120.00")),
    ("ZL002", "静脉输液", "treatment", "A", Decimal("12.00")),
    ("ZL003", "普通针刺", "treatment", "B", Decimal("30.00")),
    ("CL001", "一次性输液器", "material", "B", Decimal("3.50")),
    ("QT001", "维生素C咀嚼片（保健）", "drug", "C", Decimal("35.00")),
]
